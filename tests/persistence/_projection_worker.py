"""A projection in a process of its own, for the kill -9 test: it runs
``events_by_tag(tag)`` of an LMDB directory or a PostgreSQL database into a
handler that appends ``<pid> <seq>`` to an output file (fsynced) and then
prints the line, storing the offset (on the same backend) after each one.

Usage: _projection_worker.py STORE TARGET SCHEMA TAG OUTPUT
(STORE is ``lmdb`` or ``postgres``; TARGET a directory or a DSN.)
"""

from __future__ import annotations

import asyncio
import os
import sys

from atomr.persistence import LmdbJournal
from atomr.persistence.projection import at_least_once, events_by_tag
from atomr.persistence.query import ReadJournal


async def main(store: str, target: str, schema: str, tag: str, output: str) -> None:
    if store == "lmdb":
        journal = LmdbJournal(target)
    else:
        from atomr.persistence.postgres import PostgresJournal
        journal = PostgresJournal(target, schema=schema)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def handle(envelope) -> None:
        os.write(fd, f"{envelope.persistence_id} {envelope.sequence_nr}\n".encode())
        os.fsync(fd)
        await asyncio.sleep(0.005)  # slow enough to be killed mid-way

    rj = ReadJournal(journal, refresh_interval=0.05, batch_size=16)
    projection = at_least_once("kill-test", events_by_tag(rj, tag), handle)
    print("running", flush=True)
    await projection.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
