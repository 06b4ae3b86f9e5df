"""The Ray baseline of the remote benchmarks: the same two actors as
remote_receiver.py as Ray actors, each in a Ray worker process of its own
(so every call crosses a process boundary, as atomr's do over loopback).

* ``RayCounter`` (a plain actor: calls run one at a time, in the order one
  caller submitted them) counts ``tell`` calls and answers ``count``;
* ``RayEcho`` (an async actor) answers ``echo`` with its argument.

:func:`ray_actors` starts a local Ray instance (``ray.init(num_cpus=2)``,
no dashboard), yields the two actor handles and shuts Ray down on exit. It
raises :class:`RayUnavailable` with the reason when Ray is not installed or
cannot start here; the benchmark then skips its Ray rows with that reason.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator


class RayUnavailable(Exception):
    """Ray is not installed or cannot start on this machine."""


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def tell(self, msg: Any) -> None:
        self.n += 1

    def count(self, msg: Any = None) -> int:
        self.n += 1  # the acknowledging call counts, as the atomr counter's ask does
        return self.n


class _Echo:
    async def echo(self, msg: Any) -> Any:
        return msg


def _pythonpath() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)


@contextlib.contextmanager
def ray_actors() -> Iterator[tuple[Any, Any]]:
    """A local Ray instance with a counter and an echo actor, both ready."""
    try:
        import ray  # noqa: PLC0415 - optional: only the Ray rows need it
    except ImportError as exc:
        raise RayUnavailable(f"ray is not installed ({exc}); pip install ray") from exc
    try:
        # Loopback only; the workers import this module from benchmarks/.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="error", configure_logging=False,
                 _node_ip_address="127.0.0.1",
                 runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}})
    except Exception as exc:  # noqa: BLE001 - any failure to start is a reason to skip
        raise RayUnavailable(f"ray.init(num_cpus=2) failed here: "
                             f"{type(exc).__name__}: {exc}") from exc
    try:
        counter = ray.remote(_Counter).remote()
        echo = ray.remote(_Echo).remote()
        ray.get([counter.count.remote(), echo.echo.remote(0)], timeout=120)
        yield counter, echo
    finally:
        ray.shutdown()
