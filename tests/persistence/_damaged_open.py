"""Opens a possibly damaged LMDB file in a subprocess of test_damaged_files.py.

``argv[1]`` is ``journal`` (an LMDB journal directory at ``argv[2]``) or
``ddata`` (an LMDB durable store file at ``argv[2]``). The script reads
everything back and prints ``ok <count>`` when it could, or ``error <type>``
when the open or a read raised an atomr error. A journal's events must be
exactly the ones written (``payload(seq)``) when no error is raised: it
prints ``wrong ...`` otherwise. Anything but ``ok`` or ``error`` (a signal,
an unexpected exception, wrong events) is what the test looks for.
"""

from __future__ import annotations

import sys

from atomr.ddata import DurableStoreError
from atomr.ddata.lmdb import LmdbDurableStore
from atomr.persistence import JournalError, LmdbJournal


def payload(seq: int) -> bytes:
    """The payload of journal event `seq` (some span LMDB's overflow pages)."""
    return f"event-{seq:05d}|".encode() * (400 if seq % 50 == 0 else 8)


def main(kind: str, path: str) -> int:
    try:
        if kind == "journal":
            journal = LmdbJournal(path)
            payloads = journal.replay("damaged")
            count = len(payloads)
            highest = journal.highest_sequence_nr("damaged")
            if highest != count or payloads != [payload(s) for s in range(1, count + 1)]:
                print(f"wrong: {count} events, highest {highest}", flush=True)
                return 0
        else:
            with LmdbDurableStore(path) as store:
                count = len(store.load_all())
    except (JournalError, DurableStoreError) as e:
        print(f"error {type(e).__name__}: {e}", flush=True)
        return 0
    print(f"ok {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
