"""Loaded by Python at start-up in test subprocesses (via PYTHONPATH): block non-loopback connections.

Every blocked attempt is appended to the file named by RAG_NETGUARD_LOG, which the test run
reports at its end, so a subprocess cannot phone home unnoticed either.
"""

import ipaddress
import os
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address):
    if not isinstance(address, tuple):
        return True
    host = str(address[0])
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(address):
    log = os.environ.get("RAG_NETGUARD_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {address!r}\n")


def _connect(self, address):
    if not _is_local(address):
        _record(address)
        raise ConnectionRefusedError(f"network guard: outbound connection to {address!r} blocked in tests")
    return _real_connect(self, address)


def _connect_ex(self, address):
    if not _is_local(address):
        _record(address)
        raise ConnectionRefusedError(f"network guard: outbound connection to {address!r} blocked in tests")
    return _real_connect_ex(self, address)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
