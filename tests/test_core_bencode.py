import pytest

from tracker.core import BencodeError, bdecode, bencode


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"i0e"),
        (-42, b"i-42e"),
        (2**70, b"i1180591620717411303424e"),
        (b"", b"0:"),
        (b"\x00\xff", b"2:\x00\xff"),
        ("é", b"2:\xc3\xa9"),
        ([], b"le"),
        ([1, b"a", [b"b"]], b"li1e1:al1:bee"),
        ((1, 2), b"li1ei2ee"),
        ({}, b"de"),
        ({b"b": 1, "a": 2}, b"d1:ai2e1:bi1ee"),
        ({"peers": b"\x7f\x00\x00\x01\x1a\xe1"}, b"d5:peers6:\x7f\x00\x00\x01\x1a\xe1e"),
    ],
)
def test_bencode_encodes_each_type_as_bep3_says(value, encoded):
    assert bencode(value) == encoded


def test_bencode_sorts_dict_keys_as_raw_bytes_not_as_text():
    # "é" is b"\xc3\xa9", which sorts after b"z" and before b"\xff".
    encoded = bencode({b"\xff": 1, "é": 2, "z": 3, "min interval": 4})
    assert encoded == b"d12:min intervali4e1:zi3e2:\xc3\xa9i2e1:\xffi1ee"


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        123456789012345678901234567890,
        b"",
        b"spam",
        bytes(range(256)),
        [],
        [b"a", [b"b", [b"c"]], 3],
        {b"interval": 120, b"peers": b"\x01\x02\x03\x04\x00\x50", b"files": {b"x" * 20: {}}},
    ],
)
def test_bdecode_round_trips_what_bencode_produces(value):
    assert bdecode(bencode(value)) == value


@pytest.mark.parametrize("value", [True, False, 1.5, None, {1: b"a"}, object(), {"a": {2}}])
def test_bencode_refuses_values_it_has_no_encoding_for(value):
    with pytest.raises(TypeError):
        bencode(value)


def test_bencode_refuses_str_and_bytes_keys_that_collide():
    with pytest.raises(ValueError, match="duplicate"):
        bencode({"a": 1, b"a": 2})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i1ei2e",  # trailing data
        b"4:spamx",  # trailing data
        b"i01e",  # leading zero
        b"i-0e",  # negative zero
        b"i-01e",
        b"ie",
        b"i-e",
        b"i1",  # unterminated
        b"i1.5e",
        b"i+1e",
        b"i 1e",
        b"05:hello",  # leading zero in a length
        b"5:hell",  # runs past the end
        b"-1:a",
        b"3",
        b"l",
        b"li1e",
        b"d",
        b"d1:a",
        b"d1:ai1e",
        b"di1ei2ee",  # key not a string
        b"d1:ai1e1:ai2ee",  # duplicate key
        b"x",
        b"e",
        b"l" * 100 + b"e" * 100,  # nesting too deep
    ],
)
def test_bdecode_rejects_malformed_input_with_bencode_error(data):
    with pytest.raises(BencodeError):
        bdecode(data)


def test_bdecode_accepts_zero_and_empty_containers():
    assert bdecode(b"i0e") == 0
    assert bdecode(b"d0:lee") == {b"": []}


def test_bdecode_refuses_text_input():
    with pytest.raises(BencodeError):
        bdecode("i1e")  # type: ignore[arg-type]


def test_bencode_error_is_a_value_error():
    assert issubclass(BencodeError, ValueError)
