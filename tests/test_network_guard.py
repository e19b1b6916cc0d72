"""The guard itself: outbound connections fail in tests and in their subprocesses; loopback works."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
from conftest import BLOCKED, NETGUARD_LOG

pytestmark = pytest.mark.unit


def test_outbound_connection_is_blocked() -> None:
    before = len(BLOCKED)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="network guard"):
        s.connect(("203.0.113.7", 80))  # TEST-NET-3, never routable
    assert len(BLOCKED) == before + 1
    del BLOCKED[before:]  # a deliberate attempt, not a leak
    forget_logged("203.0.113.7")  # a test worker of `pytest -n 2` also logged it for the summary


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        accepted = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
        accepted.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        accepted.join(timeout=5)  # before the listening socket closes under it
        assert not accepted.is_alive()


def test_subprocesses_are_guarded_too(subprocess_env: dict[str, str]) -> None:
    code = "import socket; s = socket.socket(); s.connect(('198.51.100.9', 443))"
    before = NETGUARD_LOG.read_text().splitlines() if NETGUARD_LOG.exists() else []
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "network guard" in proc.stderr
    after = NETGUARD_LOG.read_text().splitlines()
    assert len(after) == len(before) + 1 and "198.51.100.9" in after[-1]
    forget_logged("198.51.100.9")  # deliberate, not a leak


def forget_logged(address: str) -> None:
    """Drop a deliberate attempt from the run's log (other processes' lines stay)."""
    if NETGUARD_LOG.exists():
        kept = [line for line in NETGUARD_LOG.read_text().splitlines() if address not in line]
        NETGUARD_LOG.write_text("".join(line + "\n" for line in kept))
