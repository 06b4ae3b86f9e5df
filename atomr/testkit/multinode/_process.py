"""Node processes, as the controller sees them: :class:`NodeHandle`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import TYPE_CHECKING, Any, Optional

from atomr._util import public_module
from atomr.testkit.multinode._errors import MultiNodeTimeoutError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.testkit.multinode._controller import MultiNodeOopController

# -- node processes -----------------------------------------------------------------------------------------


@public_module("atomr.testkit.multinode")
class NodeHandle:
    """A node process started by :meth:`MultiNodeOopController.spawn_node`.

    The process's stdout and stderr go to files owned by the controller;
    :attr:`stdout`, :attr:`stderr` and :meth:`diagnostics` read them (they
    stay readable after the controller shut down).
    """

    _controller: "MultiNodeOopController"
    _name: str
    _proc: subprocess.Popen
    _out_path: str
    _err_path: str
    _captured: Optional[tuple[str, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("NodeHandle objects are created by MultiNodeOopController.spawn_node()")

    @classmethod
    def _new(cls, controller: "MultiNodeOopController", name: str, proc: subprocess.Popen,
             out_path: str, err_path: str) -> "NodeHandle":
        self = object.__new__(cls)
        self._controller = controller
        self._name = name
        self._proc = proc
        self._out_path = out_path
        self._err_path = err_path
        self._captured = None
        return self

    @property
    def name(self) -> str:
        """The node's name."""
        return self._name

    @property
    def pid(self) -> int:
        """The node process's id."""
        return self._proc.pid

    @property
    def returncode(self) -> Optional[int]:
        """The exit code, ``None`` while the process runs (negative: killed by that signal)."""
        return self._proc.poll()

    def is_alive(self) -> bool:
        """True while the process runs."""
        return self._proc.poll() is None

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the process to exit and returns its exit code.

        Raises:
            MultiNodeTimeoutError: still running after `timeout` seconds.
        """
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise MultiNodeTimeoutError(f"node `{self._name}` (pid {self.pid}) still runs "
                                        f"after {timeout:g}s") from None

    def kill(self) -> None:
        """Sends SIGKILL to the node (and anything it started).

        The node's disconnection is then expected: barriers other nodes wait
        at are not failed because of it.
        """
        self._controller._expect_leave(self._name)
        self._send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def terminate(self) -> None:
        """Sends SIGTERM to the node (an expected departure, like :meth:`kill`)."""
        self._controller._expect_leave(self._name)
        self._send_signal(signal.SIGTERM)

    def _send_signal(self, sig: int) -> None:
        if self._proc.poll() is not None:
            return
        killpg = getattr(os, "killpg", None)
        try:
            if killpg is not None:
                killpg(self._proc.pid, sig)  # the node leads its own process group
            else:
                self._proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    @property
    def stdout(self) -> str:
        """Everything the node wrote to stdout so far."""
        return self._captured[0] if self._captured else _read_text(self._out_path)

    @property
    def stderr(self) -> str:
        """Everything the node wrote to stderr so far (tracebacks land here)."""
        return self._captured[1] if self._captured else _read_text(self._err_path)

    def diagnostics(self, tail: int = 8000) -> str:
        """A report of the node's state and the tail of its output, for failing tests."""
        out, err = self.stdout, self.stderr
        return (f"--- node `{self._name}` pid {self.pid} returncode {self.returncode} ---\n"
                f"[stdout]\n{out[-tail:]}\n[stderr]\n{err[-tail:]}")

    def _capture(self) -> None:
        if self._captured is None:
            self._captured = (_read_text(self._out_path), _read_text(self._err_path))

    def __repr__(self) -> str:
        rc = self.returncode
        state = "running" if rc is None else f"exited {rc}"
        return f"<NodeHandle {self._name} pid={self.pid} {state}>"


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
