"""InterpreterQuota: the limits of one interpreter pool."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["InterpreterQuota", "IMPORT_POLICIES"]

#: ``lazy``: modules are imported when an actor first needs them;
#: ``eager``: a process pool's workers import the allow list at start.
IMPORT_POLICIES = ("lazy", "eager")


def _opt_number(name: str, value: Any, integer: bool) -> None:
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'} or None, "
                        f"not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")


def _opt_names(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"{name} must be a list of non-empty module names")


class InterpreterQuota:
    """The limits of an interpreter pool (all keyword arguments, all
    readable and writable; checked when the pool is configured).

    What is enforced, per pool kind (``docs/pools.md``):

    * `max_actors`: every kind; ``actor_of`` beyond it raises
      :class:`~atomr.InterpreterOverloaded` (a stopped actor frees its slot).
    * `max_handler_ms`: every in-process kind counts ``long_handlers`` (a
      turn of an actor whose handlers took longer than this on average;
      in a subinterpreter pool, a handler call longer than this).
    * `memory_soft_limit_bytes`: a process pool's workers run under it as
      their address-space limit (``RLIMIT_AS``; an allocation beyond fails
      with MemoryError, an actor failure); advisory in-process and in
      subinterpreter pools (one process's memory).
    * `module_denylist` / `module_allowlist`: a process pool's workers and
      a subinterpreter pool's interpreters refuse to import a denied
      top-level module, or (with an allow list) any module neither
      allowed, in the standard library nor loaded at start (ImportError);
      advisory in-process.
    * `import_policy`: ``"eager"`` has a process pool's workers (a
      subinterpreter pool's interpreters) import the allow list at start;
      ``"lazy"`` (default) does nothing.
    * `max_mailbox_total`, `cpu_share`: advisory.
    """

    __slots__ = ("max_actors", "max_mailbox_total", "memory_soft_limit_bytes", "cpu_share",
                 "max_handler_ms", "module_allowlist", "module_denylist", "import_policy")

    def __init__(self, *, max_actors: Optional[int] = None,
                 max_mailbox_total: Optional[int] = None,
                 memory_soft_limit_bytes: Optional[int] = None,
                 cpu_share: Optional[float] = None,
                 max_handler_ms: Optional[float] = None,
                 module_allowlist: Optional[list[str]] = None,
                 module_denylist: Optional[list[str]] = None,
                 import_policy: str = "lazy") -> None:
        self.max_actors = max_actors
        self.max_mailbox_total = max_mailbox_total
        self.memory_soft_limit_bytes = memory_soft_limit_bytes
        self.cpu_share = cpu_share
        self.max_handler_ms = max_handler_ms
        for what, names in (("module_allowlist", module_allowlist),
                            ("module_denylist", module_denylist)):
            _opt_names(what, names)
        self.module_allowlist = None if module_allowlist is None else list(module_allowlist)
        self.module_denylist = [] if module_denylist is None else list(module_denylist)
        self.import_policy = import_policy
        self.validate()

    def validate(self) -> None:
        """Checks every attribute.

        Raises:
            TypeError, ValueError: an attribute has a bad type or value.
        """
        _opt_number("max_actors", self.max_actors, True)
        _opt_number("max_mailbox_total", self.max_mailbox_total, True)
        _opt_number("memory_soft_limit_bytes", self.memory_soft_limit_bytes, True)
        _opt_number("cpu_share", self.cpu_share, False)
        _opt_number("max_handler_ms", self.max_handler_ms, False)
        _opt_names("module_allowlist", self.module_allowlist)
        _opt_names("module_denylist", self.module_denylist)
        if self.module_denylist is None:
            raise TypeError("module_denylist must be a list of module names")
        if self.import_policy not in IMPORT_POLICIES:
            raise ValueError(f"import_policy must be one of {', '.join(IMPORT_POLICIES)}, not "
                             f"{self.import_policy!r}")

    def to_dict(self) -> dict[str, Any]:
        """The attributes as a dict (what a worker process is given)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"InterpreterQuota({args})"
