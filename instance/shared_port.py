"""One of `serve --workers N` server processes: uvicorn on a socket of its own, bound with
SO_REUSEPORT to the port its siblings bind too.

With uvicorn's own --workers, the processes accept from one inherited socket, and Linux wakes
whichever is waiting: a busy process can take most connections. With a socket each and
SO_REUSEPORT, the kernel spreads connections over the processes by a hash of their addresses,
and a process that dies takes only its own socket with it. uvicorn serves a socket passed by
--fd, which it wraps as AF_UNIX; here the wrapper detects the real family (TCP), so that the
client's address reaches the app.

Usage: python -m instance.shared_port <uvicorn's arguments, with --host and --port>.
"""

import os
import socket
import sys
import types

import uvicorn.main
import uvicorn.server


def _bound(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _SocketModule(types.ModuleType):
    """The socket module as uvicorn.server sees it, but for fromfd."""

    def __getattr__(self, name: str):
        return getattr(socket, name)

    @staticmethod
    def fromfd(fd: int, family: int, kind: int, proto: int = 0) -> socket.socket:
        # Family, type and protocol detected from the descriptor (uvicorn says AF_UNIX).
        return socket.socket(fileno=os.dup(fd))


def main(argv: list[str]) -> None:
    args = list(argv)
    host = args[args.index("--host") + 1]
    port = int(args[args.index("--port") + 1])
    for option in ("--host", "--port"):
        at = args.index(option)
        del args[at : at + 2]
    sock = _bound(host, port)
    uvicorn.server.socket = _SocketModule("socket")
    uvicorn.main.main([*args, "--fd", str(sock.fileno())])


if __name__ == "__main__":
    main(sys.argv[1:])
