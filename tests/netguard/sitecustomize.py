"""Loaded by Python at start-up in test subprocesses (via PYTHONPATH): block non-loopback connections.

Every blocked attempt is appended to the file named by RAG_NETGUARD_LOG, which the test run
reports at its end, so a subprocess cannot phone home unnoticed either.
"""

import os

import guard


def _record(address: object) -> None:
    log = os.environ.get("RAG_NETGUARD_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {address!r}\n")


guard.install(_record)
