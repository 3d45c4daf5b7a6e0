"""Bencoding (BEP 3) for HTTP tracker replies, and a strict decoder for tests and input."""

from __future__ import annotations

from typing import Any

# Nesting deeper than this is never produced by a tracker or torrent; refusing it keeps the
# recursive decoder away from RecursionError on hostile input.
MAX_DEPTH = 64


class BencodeError(ValueError):
    pass


def bencode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    # bool is an int subclass; True would silently become i1e, so refuse it.
    if isinstance(value, bool):
        raise TypeError("cannot bencode a bool")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, str):
        _encode(value.encode("utf-8"), out)
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        _encode_dict(value, out)
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def _encode_dict(value: dict, out: list[bytes]) -> None:
    items: dict[bytes, Any] = {}
    for key, item in value.items():
        if isinstance(key, str):
            raw_key = key.encode("utf-8")
        elif isinstance(key, bytes):
            raw_key = key
        else:
            raise TypeError("bencoded dict keys must be str or bytes")
        if raw_key in items:
            raise ValueError("duplicate dict key after encoding")
        items[raw_key] = item
    out.append(b"d")
    # BEP 3: keys sorted as raw strings, not by their text meaning.
    for raw_key in sorted(items):
        _encode(raw_key, out)
        _encode(items[raw_key], out)
    out.append(b"e")


def bdecode(data: bytes) -> Any:
    """Decode exactly one value; strings come back as bytes, dict keys as bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BencodeError("bdecode needs bytes")
    data = bytes(data)
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError("trailing data after value")
    return value


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nesting too deep")
    if pos >= len(data):
        raise BencodeError("unexpected end of data")
    lead = data[pos : pos + 1]
    if lead == b"i":
        return _decode_int(data, pos + 1)
    if lead == b"l":
        items = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        return _decode_dict(data, pos + 1, depth)
    if lead.isdigit():
        return _decode_bytes(data, pos)
    raise BencodeError(f"unexpected byte at offset {pos}")


def _decode_int(data: bytes, pos: int) -> tuple[int, int]:
    end = data.find(b"e", pos)
    if end < 0:
        raise BencodeError("unterminated integer")
    digits = data[pos:end]
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body or not body.isdigit():
        raise BencodeError("invalid integer")
    # BEP 3: "i-0e is invalid", and no leading zeros except for i0e itself.
    if body[:1] == b"0" and (len(body) > 1 or digits[:1] == b"-"):
        raise BencodeError("invalid integer")
    return int(digits), end + 1


def _decode_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.find(b":", pos)
    if colon < 0:
        raise BencodeError("unterminated string length")
    digits = data[pos:colon]
    if not digits.isdigit() or (digits[:1] == b"0" and len(digits) > 1):
        raise BencodeError("invalid string length")
    start = colon + 1
    end = start + int(digits)
    if end > len(data):
        raise BencodeError("string runs past end of data")
    return data[start:end], end


def _decode_dict(data: bytes, pos: int, depth: int) -> tuple[dict[bytes, Any], int]:
    result: dict[bytes, Any] = {}
    while data[pos : pos + 1] != b"e":
        if pos >= len(data):
            raise BencodeError("unterminated dict")
        if not data[pos : pos + 1].isdigit():
            raise BencodeError("dict key must be a string")
        key, pos = _decode_bytes(data, pos)
        if key in result:
            raise BencodeError("duplicate dict key")
        result[key], pos = _decode(data, pos, depth + 1)
    return result, pos + 1
