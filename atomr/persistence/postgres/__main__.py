"""``python -m atomr.persistence.postgres migrate --dsn DSN [--schema NAME]``:
creates or updates the journal's tables (see
:func:`atomr.persistence.postgres.migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Optional, Sequence

from atomr.errors import JournalError
from atomr.persistence.postgres._schema import migrate


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atomr.persistence.postgres",
        description="Manages the PostgreSQL schema of atomr's journal and snapshot store.")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("migrate", help="create or update the tables (idempotent)")
    cmd.add_argument("--dsn", default=os.environ.get("ATOMR_POSTGRES_DSN"),
                     help="postgresql:// URI (default: $ATOMR_POSTGRES_DSN)")
    cmd.add_argument("--schema", default="public", help="the schema to use (default: public)")
    cmd.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("give --dsn or set ATOMR_POSTGRES_DSN")
    try:
        applied = asyncio.run(migrate(args.dsn, schema=args.schema,
                                      connect_timeout=args.connect_timeout))
    except (JournalError, ValueError) as exc:
        print(f"migrate failed: {exc}", file=sys.stderr)
        return 1
    if applied:
        for name in applied:
            print(f"applied migration {name}")
    else:
        print(f"schema {args.schema!r} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
