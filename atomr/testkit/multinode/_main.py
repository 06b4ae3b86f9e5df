"""The entry point of a node process.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import traceback
from typing import Any, Optional

from atomr.testkit.multinode._common import _qualified_type, _resolve_ref, _safe_str
from atomr.testkit.multinode._node import MultiNodeOopNode

# -- the node process's entry point ---------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            print("atomr multinode: the controlling process is gone; exiting", file=sys.stderr)
            os._exit(70)


def _node_main() -> None:
    """Entry point of a node process (reads its assignment from stdin)."""
    payload = pickle.loads(sys.stdin.buffer.read())
    for entry in reversed(payload["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    threading.Thread(target=_watch_parent, args=(payload["parent_pid"],),
                     name="atomr-mn-parent-watch", daemon=True).start()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        target, args = pickle.loads(payload["blob"])
        if isinstance(target, str):
            target = _resolve_ref(target)
        node = MultiNodeOopNode.connect(payload["addr"], name=payload["name"],
                                        timeout=payload["connect_timeout"])
    except BaseException:
        traceback.print_exc()
        sys.exit(2)
    code = 0
    failure: Optional[str] = None
    try:
        target(node, *args)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            failure = f"exited with {exc.code!r}"
        raise
    except BaseException as exc:
        traceback.print_exc()
        failure = f"{_qualified_type(exc)}: {_safe_str(exc)}"
        code = 1
    finally:
        node._close(failure)
    sys.exit(code)
