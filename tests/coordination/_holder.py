"""A process that takes a file lease and holds it until it is killed.

Usage: _holder.py PATH OWNER MODE TTL
  MODE "store": FileLease.acquire(OWNER, ttl=TTL) once, no renewal;
  MODE "heartbeat": a Lease with heartbeat_timeout=TTL renewing every TTL/5.
Prints "held <monotonic time of the acquisition>" and then waits forever.
"""

from __future__ import annotations

import sys
import threading
import time

from atomr.coordination import FileLease, Lease, LeaseSettings, TimeoutSettings


def main() -> None:
    path, owner, mode, ttl = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    store = FileLease(path)
    started = time.monotonic()
    if mode == "store":
        store.acquire(owner, ttl=ttl)
    else:
        lease = Lease(store, LeaseSettings("shared", owner, TimeoutSettings(
            heartbeat_interval=ttl / 5, heartbeat_timeout=ttl, operation_timeout=ttl)))
        if not lease.acquire_blocking(lambda reason: print("lost", reason, flush=True)):
            print("refused", flush=True)
            return
    print(f"held {started!r}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
