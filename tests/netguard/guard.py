"""The network guard shared by the test process (conftest) and its subprocesses (sitecustomize)."""

import ipaddress
import socket
from collections.abc import Callable


def is_local(address: object) -> bool:
    """Loopback addresses and Unix sockets are allowed; everything else is outbound."""
    if not isinstance(address, tuple):
        return True
    host = str(address[0])
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not allowed


def install(record: Callable[[object], None]) -> None:
    """Make every non-loopback connect fail, after calling ``record`` with the address."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: object) -> None:
        if not is_local(address):
            record(address)
            raise ConnectionRefusedError(f"network guard: outbound connection to {address!r} blocked in tests")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
