"""The :class:`ActorSystem`: a tree of actors bound to one asyncio loop."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
import weakref
from asyncio.events import _get_running_loop
from typing import Any, Optional

from atomr._native._core import ActorRef, _System
from atomr._props import Props
from atomr.config import Config
from atomr.errors import ActorSystemTerminatedError

__all__ = ["ActorSystem"]

_log = logging.getLogger("atomr")

_DEFAULT_THROUGHPUT = 64
_LIVE_OWNED: "weakref.WeakSet[ActorSystem]" = weakref.WeakSet()


def _throughput(config: Optional[Config]) -> int:
    if config is None:
        return _DEFAULT_THROUGHPUT
    if not isinstance(config, Config):
        raise TypeError(f"config must be an atomr.Config or None, not {type(config).__name__}")
    value = config.get("actor.throughput", _DEFAULT_THROUGHPUT)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"actor.throughput must be a positive integer, got {value!r}")
    return value


async def _await_cf(cf: concurrent.futures.Future) -> Any:
    return await asyncio.wrap_future(cf)


class ActorSystem:
    """A hierarchy of actors sharing one asyncio loop and one dispatcher.

    Create one with ``await ActorSystem.create(name)`` (bound to the running
    loop) or ``ActorSystem.create_blocking(name)`` (runs its own loop on a
    dedicated thread). Top-level actors live at ``akka://<name>/user/<actor>``.
    """

    __slots__ = ("_core", "_config", "_thread", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use `await ActorSystem.create(name)` or "
                        "`ActorSystem.create_blocking(name)`")

    @classmethod
    def _bind(cls, name: str, config: Optional[Config], loop: asyncio.AbstractEventLoop,
              thread: Optional[threading.Thread]) -> "ActorSystem":
        if not isinstance(name, str):
            raise TypeError(f"system name must be a str, not {type(name).__name__}")
        throughput = _throughput(config)
        self = object.__new__(cls)
        self._config = config if config is not None else Config.empty()
        self._thread = thread
        self._core = _System(name, loop, Props, weakref.ref(self), throughput)
        return self

    # -- construction ---------------------------------------------------------

    @staticmethod
    async def create(name: str, config: Optional[Config] = None) -> "ActorSystem":
        """Creates a system bound to the running event loop.

        Its actors run on that loop's thread; tells and asks from that loop
        never cross threads.

        Raises:
            InvalidActorNameError: `name` is not a valid system name.
        """
        return ActorSystem._bind(name, config, asyncio.get_running_loop(), None)

    @staticmethod
    def create_blocking(name: str, config: Optional[Config] = None) -> "ActorSystem":
        """Creates a system running its own event loop on a dedicated thread.

        The system can then be used from any thread and from any number of
        successive ``asyncio.run(...)`` calls.
        """
        _throughput(config)  # validate before starting a thread
        if not isinstance(name, str):
            raise TypeError(f"system name must be a str, not {type(name).__name__}")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                system = ActorSystem._bind(name, config, loop, threading.current_thread())
            except BaseException as exc:
                started.set_exception(exc)
                loop.close()
                return
            system._core.on_terminated = loop.stop
            started.set_result(system)
            try:
                loop.run_forever()
            finally:
                _close_loop(loop)

        thread = threading.Thread(target=run, name=f"atomr-{name}", daemon=True)
        thread.start()
        system = started.result()
        _LIVE_OWNED.add(system)
        return system

    # -- properties -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The system's name."""
        return self._core.name

    @property
    def address(self) -> str:
        """The local address, ``akka://<name>``."""
        return self._core.address

    @property
    def config(self) -> Config:
        return self._config

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the system's actors run on."""
        return self._core.loop

    @property
    def dead_letter_count(self) -> int:
        """How many messages could not be delivered so far."""
        return self._core.dead_letter_count

    @property
    def is_terminated(self) -> bool:
        return self._core.terminated

    # -- actors -------------------------------------------------------------------

    def actor_of(self, props: Props, name: Optional[str] = None) -> ActorRef:
        """Spawns a top-level actor at ``akka://<system>/user/<name>``.

        Returns at once; the actor starts asynchronously on the system's loop.

        Raises:
            InvalidActorNameError: `name` breaks the path grammar.
            ActorNameTakenError: a live top-level actor already has `name`.
            ActorSystemTerminatedError: the system is terminated.
            TypeError: `props` is not a :class:`Props`.
        """
        return self._core.spawn(props, name)

    def top_level(self, name: str) -> Optional[ActorRef]:
        """The live top-level actor called `name`, or None."""
        return self._core.top_level(name)

    def subscribe_dead_letters(self, listener: Any) -> None:
        """Calls ``listener(message, sender, recipient_path)`` on the system's
        loop thread for every dead letter."""
        self._core.dead_letter_listeners.append(listener)

    def unsubscribe_dead_letters(self, listener: Any) -> None:
        try:
            self._core.dead_letter_listeners.remove(listener)
        except ValueError:
            pass

    # -- termination ------------------------------------------------------------

    def _request_terminate(self) -> None:
        core = self._core
        if core.terminating:
            return
        if core.on_loop_thread():
            core.begin_terminate()
            return
        loop = core.loop
        try:
            loop.call_soon_threadsafe(core.begin_terminate)
        except RuntimeError:
            # The loop is closed: no actor can run any more.
            _log.warning("actor system %s: its loop is closed; marking it terminated "
                         "without running post_stop hooks", core.name)
            core.abandon()

    def terminate(self) -> "asyncio.Future[None]":
        """Stops every actor (children first, ``post_stop`` hooks run) and
        returns an awaitable resolved once the system is terminated."""
        self._request_terminate()
        return self.when_terminated()

    def when_terminated(self) -> Any:
        """An awaitable resolved once the system has terminated (at once if it has)."""
        loop = _get_running_loop()
        if loop is None:
            return _await_cf(self._core.termination)
        return asyncio.wrap_future(self._core.termination, loop=loop)

    def terminate_blocking(self, timeout: Optional[float] = None) -> None:
        """Terminates the system and waits for it (and its loop thread).

        Raises:
            RuntimeError: called on the system's own loop thread.
            TimeoutError: not terminated within `timeout` seconds.
        """
        if self._core.on_loop_thread():
            raise RuntimeError("terminate_blocking() on the system's own loop thread would "
                               "deadlock; use `await system.terminate()` there")
        self._request_terminate()
        try:
            self._core.termination.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"actor system {self.name} did not terminate within "
                               f"{timeout}s") from None
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        _LIVE_OWNED.discard(self)

    def _check_live(self) -> None:
        if self._core.terminating:
            raise ActorSystemTerminatedError(f"actor system {self.name} is terminated")

    def __repr__(self) -> str:
        state = "terminated" if self._core.terminated else "running"
        return f"<ActorSystem {self.name} {state}>"


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


@atexit.register
def _terminate_owned_systems() -> None:
    for system in list(_LIVE_OWNED):
        try:
            system.terminate_blocking(timeout=5.0)
        except BaseException as exc:  # never block interpreter exit
            _log.warning("could not terminate actor system %s at exit: %s", system.name, exc)
