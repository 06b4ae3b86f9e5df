"""The :class:`ActorSystem`: a tree of actors bound to one asyncio loop."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import importlib
import logging
import selectors
import threading
import weakref
from asyncio.events import _get_running_loop
from typing import Any, Callable, Optional, TypeVar

from atomr import codecs as _codecs
from atomr._native._core import ActorRef, _remote_dead_letter, _remote_lookup, _System
from atomr._util.exports import public_module
from atomr._util.typevars import Msg, Reply
from atomr.actor._event_stream import DeadLetter, EventStream, EventStreamLogHandler, LogEvent
from atomr.actor._props import Props
from atomr.actor._supervision import ReceiveTimeout, Terminated
from atomr.actor.extension import Extension, ExtensionId
from atomr.codecs import PyCodecRegistry, _refs
from atomr.config import Config
from atomr.errors import ActorSystemTerminatedError, AtomrError

__all__ = ["ActorSystem"]

_log = logging.getLogger("atomr")

_DEFAULT_THROUGHPUT = 64
#: Seconds a system's own loop waits for its cancelled tasks before closing.
_CLOSE_GRACE = 1.0
#: Every system created in this process (they leave it when collected).
_CREATED: "weakref.WeakSet[ActorSystem]" = weakref.WeakSet()
#: The systems that have not terminated yet, held strongly: a running system
#: stays alive (as a running thread does) until it terminates, so that the
#: interpreter-exit hook finds it whatever references its creator dropped.
_RUNNING: "set[ActorSystem]" = set()
#: Seconds the interpreter-exit hook waits for each system to terminate.
_EXIT_WAIT = 5.0

E = TypeVar("E", bound=Extension)


def _settings(config: Optional[Config]) -> dict[str, Any]:
    if config is None:
        config = Config.empty()
    if not isinstance(config, Config):
        raise TypeError(f"config must be an atomr.Config or None, not {type(config).__name__}")
    return config.resolve()


# Refs inside messages are encoded as their paths (see atomr.codecs._refs).
_refs.register_ref_type(ActorRef)


def _address_of(path: str) -> Optional[str]:
    """The address of an actor path (``scheme://authority``), or None when
    `path` has none."""
    scheme, sep, rest = path.partition("://")
    authority = rest.partition("/")[0]
    if not sep or not scheme or not authority:
        return None
    return f"{scheme}://{authority}"


def _elements_of(path: str) -> str:
    """The part of an actor path after its address (``/user/a/b``)."""
    scheme, sep, rest = path.partition("://")
    return "/" + rest.partition("/")[2] if sep else path


def _resolve_local(core: _System, path: str) -> Optional[ActorRef]:
    """The live actor of `core` that `path` names: its exact path (the part
    after the address), else the top-level actor named by its first element
    under ``/user``; None when there is neither. Only on the loop thread."""
    elements = _elements_of(path)
    ref = _remote_lookup(core, elements)
    if ref is None and elements.startswith("/user/"):
        first = elements[6:].partition("/")[0]
        if first and first != elements[6:]:
            ref = _remote_lookup(core, "/user/" + first)
    return ref


def _start_remoting(system: "ActorSystem") -> None:
    """Starts the system's TCP transport when its config asks for it
    (``remote.enabled = true`` or ``actor.provider = "remote"``). The remote
    layer is loaded by name, as Akka loads configured extensions: it sits
    above the actor layer."""
    settings = system._settings
    if settings["remote.enabled"] or settings["actor.provider"] in ("remote", "cluster"):
        importlib.import_module("atomr.remote").Remote.get(system)
    if settings["actor.provider"] == "cluster":
        importlib.import_module("atomr.cluster").Cluster.get(system)


#: ``actor_of``'s pool step, installed by :mod:`atomr.interpreter` (which
#: sits above this layer): ``(system, props, name)`` -> a ref, or None to
#: spawn here as usual.
_pool_spawn: Optional[Callable[[Any, Any, Optional[str]], Any]] = None


async def _await_cf(cf: concurrent.futures.Future) -> Any:
    return await asyncio.wrap_future(cf)


async def _await_cf_shielded(cf: concurrent.futures.Future) -> Any:
    # Cancelling the waiter must not cancel `cf`, which others wait for too.
    return await asyncio.shield(asyncio.wrap_future(cf))


class _IdleSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The selector of a loop a system runs itself (`create_blocking`):
    before a wait that may sleep, it calls `before_sleep` (the system's
    idle strategy, see ``actor.idle-strategy``) when one is set."""

    def __init__(self) -> None:
        super().__init__()
        self.before_sleep: Optional[Callable[[Callable[[Optional[float]], Any], Optional[float]],
                                             Any]] = None

    def select(self, timeout: Optional[float] = None) -> Any:
        hook = self.before_sleep
        if hook is None or (timeout is not None and timeout <= 0):
            return super().select(timeout)
        return hook(super().select, timeout)


def _own_loop(settings: dict[str, Any]) -> tuple[asyncio.AbstractEventLoop, Optional[_IdleSelector]]:
    """A new loop for a system to run itself, and its selector when the
    idle strategy hooks into it: a selector loop of asyncio's own (unless
    another event loop policy, uvloop's say, is installed) when the
    strategy may spin."""
    if (type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy
            and settings["actor.idle-strategy"] != "park" and settings["actor.idle-spin"] > 0):
        selector = _IdleSelector()
        return asyncio.SelectorEventLoop(selector), selector
    return asyncio.new_event_loop(), None


@public_module("atomr.system")
class ActorSystem:
    """A hierarchy of actors sharing one asyncio loop and one dispatcher.

    Create one with ``await ActorSystem.create(name)`` (bound to the running
    loop) or ``ActorSystem.create_blocking(name)`` (runs its own loop on a
    dedicated thread). Top-level actors live at ``akka://<name>/user/<actor>``.
    """

    __slots__ = ("_core", "_config", "_settings", "_thread", "_codecs", "_events",
                 "_log_handler", "_extensions", "_extensions_lock", "_extension_locks",
                 "_extensions_closed", "_on_termination", "_remote", "__weakref__")

    _core: _System
    _config: Config
    _settings: dict[str, Any]
    _thread: Optional[threading.Thread]
    _codecs: PyCodecRegistry
    _events: EventStream
    _log_handler: Optional[EventStreamLogHandler]
    _extensions: dict[ExtensionId[Any], Extension]
    _extensions_lock: threading.Lock
    _extension_locks: dict[ExtensionId[Any], threading.RLock]
    _extensions_closed: bool
    _on_termination: list[Callable[[], Any]]
    _remote: Any  # the remote transport's hook (atomr.remote), or None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use `await ActorSystem.create(name)` or "
                        "`ActorSystem.create_blocking(name)`")

    @classmethod
    def _bind(cls, name: str, config: Optional[Config], loop: asyncio.AbstractEventLoop,
              thread: Optional[threading.Thread]) -> "ActorSystem":
        if not isinstance(name, str):
            raise TypeError(f"system name must be a str, not {type(name).__name__}")
        settings = _settings(config)
        self = object.__new__(cls)
        self._config = config if config is not None else Config.empty()
        self._settings = settings
        self._thread = thread
        self._codecs = _codecs.new_system_registry()
        self._log_handler = None
        self._extensions = {}
        # Guards _extensions, _extension_locks, _extensions_closed and _on_termination.
        self._extensions_lock = threading.Lock()
        self._extension_locks = {}  # one per id being (or once) created
        self._extensions_closed = False
        self._on_termination = []
        self._remote = None
        self._core = _System(name, loop, Props, weakref.ref(self), settings["actor.throughput"],
                             terminated_class=Terminated, receive_timeout_msg=ReceiveTimeout(),
                             virtual_time=settings["scheduler.clock"] == "virtual",
                             dead_letters_logged=settings["dead-letters.log"],
                             max_retries=settings["actor.supervision.max-retries"],
                             within_seconds=settings["actor.supervision.within"],
                             drain_deadline=settings["actor.drain-deadline"],
                             terminate_timeout=settings["actor.terminate-timeout"],
                             stop_grace=settings["actor.stop-grace"],
                             idle_strategy=settings["actor.idle-strategy"],
                             idle_spin=settings["actor.idle-spin"])
        self._events = EventStream(self._events_changed)
        self._core.events = self._events
        self._core.max_pool_size = settings["actor.router.max-pool-size"]
        self._core.on_terminated = self._on_terminated
        _CREATED.add(self)
        _RUNNING.add(self)
        return self

    def _on_terminated(self) -> None:
        """Runs on the loop thread once the system has terminated: shuts
        the extensions down (newest first), then runs the termination
        callbacks (in registration order)."""
        _RUNNING.discard(self)
        self._detach_log_handler()
        with self._extensions_lock:
            self._extensions_closed = True
            extensions = list(self._extensions.items())
            callbacks, self._on_termination = self._on_termination, []
        for ext_id, extension in reversed(extensions):
            self._shutdown_extension(ext_id, extension)
        for callback in callbacks:
            self._run_termination_callback(callback)
        if self._thread is not None:
            self.loop.stop()

    def _shutdown_extension(self, ext_id: ExtensionId[Any], extension: Extension) -> None:
        try:
            extension.shutdown()
        except BaseException as exc:
            _log.error("actor system %s: shutting down extension %r failed", self.name, ext_id,
                       exc_info=exc)

    def _run_termination_callback(self, callback: Callable[[], Any]) -> None:
        try:
            callback()
        except BaseException as exc:
            _log.error("actor system %s: termination callback %r failed", self.name,
                       callback, exc_info=exc)

    # -- construction ---------------------------------------------------------

    @staticmethod
    def live_systems() -> list["ActorSystem"]:
        """The actor systems of this process that have not finished
        terminating (sorted by name): for tools that check nothing was left
        running, such as the test kit's leak report."""
        return sorted((s for s in list(_CREATED) if not s._core.terminated),
                      key=lambda s: s.name)

    @staticmethod
    async def create(name: str, config: Optional[Config] = None) -> "ActorSystem":
        """Creates a system bound to the running event loop.

        Its actors run on that loop's thread; tells and asks from that loop
        never cross threads. With ``remote.enabled = true`` (or
        ``actor.provider = "remote"``) its TCP transport
        (:class:`atomr.remote.Remote`) is started as well.

        Raises:
            InvalidActorNameError: `name` is not a valid system name.
            ConfigError: a setting has a bad value.
            RemoteTransportError, InvalidRemoteAddressError: the configured
                transport cannot start (the port is taken, ``remote.hostname``
                does not resolve); the system is terminated again.
        """
        system = ActorSystem._bind(name, config, asyncio.get_running_loop(), None)
        try:
            _start_remoting(system)
        except BaseException:
            await system.terminate()
            raise
        return system

    @staticmethod
    def create_blocking(name: str, config: Optional[Config] = None) -> "ActorSystem":
        """Creates a system running its own event loop on a dedicated thread.

        The system can then be used from any thread and from any number of
        successive ``asyncio.run(...)`` calls. The transport starts as for
        :meth:`create`.

        Raises:
            ConfigError: a setting has a bad value.
            RemoteTransportError, InvalidRemoteAddressError: the configured
                transport cannot start (the port is taken, ``remote.hostname``
                does not resolve); the system is terminated again.
        """
        settings = _settings(config)  # validate before starting a thread
        if not isinstance(name, str):
            raise TypeError(f"system name must be a str, not {type(name).__name__}")
        loop, selector = _own_loop(settings)
        started: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                system = ActorSystem._bind(name, config, loop, threading.current_thread())
                if selector is not None:
                    system._core.attach_selector(selector)
            except BaseException as exc:
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(system)
            try:
                loop.run_forever()
            finally:
                _close_loop(loop)

        thread = threading.Thread(target=run, name=f"atomr-{name}", daemon=True)
        thread.start()
        system = started.result()
        try:
            _start_remoting(system)
        except BaseException:
            system.terminate_blocking()
            raise
        return system

    # -- properties -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The system's name."""
        return self._core.name

    @property
    def address(self) -> str:
        """The system's address: ``akka.tcp://<name>@<host>:<port>`` while
        its remote transport runs (:class:`atomr.remote.Remote`), else the
        local ``akka://<name>``. Paths of local refs always use the local form."""
        remote = self._remote
        return self._core.address if remote is None else remote.address

    @property
    def config(self) -> Config:
        """The :class:`~atomr.Config` the system was created with (an empty
        one when none was given)."""
        return self._config

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the system's actors run on."""
        return self._core.loop

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting the system runs with (dotted key -> value)."""
        return dict(self._settings)

    @property
    def event_stream(self) -> EventStream:
        """System-wide events: lifecycle, failures, dead letters, logs."""
        return self._events

    @property
    def scheduler(self) -> Any:
        """The timer service of this system's actors: ``now()``,
        ``pending()`` and, with ``scheduler.clock = "virtual"``,
        ``advance(seconds)``."""
        return self._core.scheduler

    def advance_time(self, seconds: float) -> int:
        """Virtual clock only: moves time forward by `seconds`, firing every
        timer that falls due (in deadline order). Returns how many fired."""
        return self._core.scheduler.advance(seconds)

    def _events_changed(self, active: bool) -> None:
        core = self._core
        core.events_active = active
        listening = active and self._events.has_subscribers_for(LogEvent)
        if listening and self._log_handler is None and not core.terminated:
            self._log_handler = EventStreamLogHandler(self._events, core.address)
            logging.getLogger("atomr").addHandler(self._log_handler)
        elif not listening:
            self._detach_log_handler()
        if active:
            if self._publish_dead_letter not in core.dead_letter_listeners:
                core.dead_letter_listeners.append(self._publish_dead_letter)
        elif self._publish_dead_letter in core.dead_letter_listeners:
            core.dead_letter_listeners.remove(self._publish_dead_letter)

    def _detach_log_handler(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("atomr").removeHandler(self._log_handler)
            self._log_handler = None

    def _publish_dead_letter(self, message: Any, sender: Any, recipient: str) -> None:
        if isinstance(message, DeadLetter):
            return  # an undeliverable dead-letter event: never wrap it again
        self._events.publish(DeadLetter(message, sender, recipient))

    # -- codecs ---------------------------------------------------------------------

    @property
    def codecs(self) -> PyCodecRegistry:
        """This system's codec registry (a live view)."""
        return self._codecs

    def register_codec(self, name: str, encoder: Any, decoder: Any, manifests: Any,
                       force: bool = False, strict: bool = True) -> None:
        """Registers ``encoder(obj) -> bytes`` / ``decoder(bytes) -> obj`` for
        each ``"module.qualname"`` manifest.

        Raises:
            ValueError: an empty list, an invalid manifest (strict mode
                imports it), or a manifest already registered without `force`.
        """
        _codecs.register_codec(self._codecs, name, encoder, decoder, manifests, force=force,
                               strict=strict)

    def use_json_codec(self, manifests: Any = (), default: bool = False, force: bool = False,
                       strict: bool = True) -> None:
        """Registers the JSON codec for `manifests`; with ``default=True``
        also as the fallback for every unregistered manifest."""
        _codecs.use_json_codec(self._codecs, manifests, default=default, force=force,
                               strict=strict)

    def tell_remote(self, target: Any, msg: Any) -> None:
        """Sends `msg` to the actor at `target` (an :class:`ActorRef`, a
        :class:`atomr.remote.RemoteActorRef` or an actor path), through the
        codec registry, as a message crossing a
        process boundary does.

        The message is encoded with the codec of its manifest
        (``module.qualname``) in this system's registry. A target on this
        system's own address (TCP or local), or whose path has no address,
        gets the decoded message directly. Any other target is reached
        through the remote transport (:class:`atomr.remote.Remote`); the
        receiving system looks up the exact path, else the top-level actor
        named by its first element under ``/user``, and decodes with its own
        registry. Delivery is at most once.

        Raises:
            AtomrError: no codec for the manifest (nothing is sent), or the
                target is on another system and no remote transport runs here.
            TypeError: `target` is not a ref (nothing with a str `path`) or a str.
        """
        if isinstance(target, str):
            path = target
        else:
            path = getattr(target, "path", None)  # an ActorRef or a RemoteActorRef
            if not isinstance(path, str):
                raise TypeError(f"target must be an ActorRef or an actor path, "
                                f"not {type(target).__name__}")
        remote = self._remote
        manifest, blob = (self._codecs.encode_message(msg) if remote is None
                          else remote._encode(msg))  # refs inside need the transport
        address = _address_of(path)
        if address is None or address == self._core.address or (
                remote is not None and address == remote.address):
            decoded = (self._codecs.decode(manifest, blob) if remote is None
                       else remote._decode(manifest, blob))
            if isinstance(target, ActorRef):
                target.tell(decoded)
            elif _get_running_loop() is self.loop:
                self._deliver_local(path, decoded)
            else:
                self.loop.call_soon_threadsafe(self._deliver_local, path, decoded)
            return
        if remote is None:
            raise AtomrError(f"cannot send to {path}: no remote transport is configured for "
                             f"actor system {self.name} (start one with "
                             f"atomr.remote.Remote.get(system))")
        tracer = self._core.tracer  # atomr.telemetry.tracing: the context goes along
        remote.send(address, path, manifest, blob,
                    trace=None if tracer is None else tracer.inject())

    def actor_selection(self, path: str) -> Any:
        """The actor at `path`.

        A path of this system (its TCP or local address, or no address)
        gives the live local :class:`ActorRef` at exactly that path, or None.
        A path on another system (``akka.tcp://<system>@<host>:<port>/...``)
        gives an :class:`atomr.remote.RemoteActorRef` with ``tell`` and
        ``ask``; nothing is checked remotely until a message is sent.

        Raises:
            AtomrError: the path is on another system and no remote
                transport runs here.
            InvalidRemoteAddressError: the path's address is not a TCP address.
            TypeError: `path` is not a str.
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        address = _address_of(path)
        remote = self._remote
        if address is None or address == self._core.address or (
                remote is not None and address == remote.address):
            return _remote_lookup(self._core, _elements_of(path))
        if remote is None:
            raise AtomrError(f"cannot select {path}: no remote transport is configured for "
                             f"actor system {self.name} (start one with "
                             f"atomr.remote.Remote.get(system))")
        return remote.actor_selection(path)

    def _deliver_local(self, path: str, msg: Any) -> None:
        """Tells `msg` to this system's actor at `path`, or publishes it as
        a dead letter when there is none (loop thread only)."""
        ref = _resolve_local(self._core, path)
        if ref is None:
            _remote_dead_letter(self._core, msg, path)
        else:
            ref.tell(msg)

    def codec_roundtrip(self, msg: Any) -> Any:
        """Encodes and decodes `msg` with the codec for its manifest.

        Raises:
            AtomrError: no codec is registered for the manifest.
        """
        return _codecs.codec_roundtrip(self._codecs, msg)

    @property
    def dead_letter_count(self) -> int:
        """How many messages could not be delivered so far."""
        return self._core.dead_letter_count

    @property
    def is_terminated(self) -> bool:
        """Whether the system has finished terminating."""
        return self._core.terminated

    # -- actors -------------------------------------------------------------------

    def actor_of(self, props: Props[Msg, Reply],
                 name: Optional[str] = None) -> ActorRef[Msg, Reply]:
        """Spawns a top-level actor at ``akka://<system>/user/<name>``.

        Returns at once; the actor starts asynchronously on the system's loop.

        Raises:
            InvalidActorNameError: `name` breaks the path grammar.
            ActorNameTakenError: a live top-level actor already has `name`.
            ActorSystemTerminatedError: the system is terminated.
            TypeError: `props` is not a :class:`Props`.
            InterpreterOverloaded: the pool `props` names is at its
                ``max_actors`` (see :mod:`atomr.interpreter`).
        """
        hook = _pool_spawn
        if hook is not None:
            ref = hook(self, props, name)
            if ref is not None:
                return ref  # type: ignore[no-any-return]
        return self._core.spawn(props, name)

    def configure_interpreter(self, label: str, dispatcher: str = "python-pinned",
                              count: int = 1, quota: Any = None) -> None:
        """Creates the interpreter pool `label` unless it exists (pools are
        process-wide; the first configuration wins). See
        :func:`atomr.interpreter.configure_interpreter`.

        Raises:
            TypeError, ValueError: a bad argument.
            NotImplementedError: a kind this build cannot run.
        """
        importlib.import_module("atomr.interpreter").configure_interpreter(
            label, dispatcher, count, quota)

    def top_level(self, name: str) -> Optional[ActorRef]:
        """The live top-level actor called `name`, or None."""
        return self._core.top_level(name)

    def system_actor_of(self, props: Props[Msg, Reply], name: str) -> ActorRef[Msg, Reply]:
        """Spawns a system actor at ``akka://<system>/system/<name>`` (Akka's
        ``systemActorOf``), for extensions and tools rather than applications.

        System actors are children of the ``/system`` guardian. When the
        system terminates they stop after every actor under ``/user`` has
        stopped, so an extension's actors still serve the user actors'
        ``post_stop``. :meth:`actor_selection` and remote senders reach them
        by their exact path.

        Raises:
            InvalidActorNameError: `name` breaks the path grammar.
            ActorNameTakenError: a live system actor already has `name`.
            ActorSystemTerminatedError: the system is terminating or terminated.
            TypeError: `props` is not a :class:`Props`, or `name` not a str.
        """
        if not isinstance(name, str):
            raise TypeError(f"a system actor needs a name (a str), not {type(name).__name__}")
        return self._core.spawn_system(props, name)

    def system_actor(self, name: str) -> Optional[ActorRef]:
        """The live system actor called `name` (under ``/system``), or None."""
        return self._core.system_top_level(name)

    def subscribe_dead_letters(self, listener: Any) -> None:
        """Calls ``listener(message, sender, recipient_path)`` on the system's
        loop thread for every dead letter."""
        self._core.dead_letter_listeners.append(listener)

    def unsubscribe_dead_letters(self, listener: Any) -> None:
        """Removes a listener added with :meth:`subscribe_dead_letters`
        (one registration of it; a no-op when it is not registered)."""
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

    def _coordinated_shutdown(self) -> Any:
        """The system's coordinated shutdown when ``terminate()`` must run
        it (Akka's ``run-by-actor-system-terminate``): the system has one
        and it has not finished; else None."""
        from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN

        if self._core.terminating or not self._settings.get(
                "coordinated-shutdown.run-by-actor-system-terminate", True):
            return None
        with self._extensions_lock:
            shutdown = self._extensions.get(COORDINATED_SHUTDOWN)
        if shutdown is None or shutdown.finished:
            return None
        return shutdown

    def _final_terminate(self) -> Any:
        """Stops the actors now (the coordinated shutdown's last phase)."""
        self._request_terminate()
        return self.when_terminated()

    def terminate(self) -> "asyncio.Future[None]":
        """Stops every actor (children first, ``post_stop`` hooks run) and
        returns an awaitable resolved once the system is terminated.

        Each actor stops after its current message; a handler suspended in an
        ``await`` is cancelled after ``actor.stop-grace`` seconds (it sees
        CancelledError), and mail still queued goes to dead letters. After ``actor.terminate-timeout`` seconds what
        actors still await is cancelled, and a moment later (at most a second)
        the remaining actors are stopped without waiting; both are logged.

        When the system has a coordinated shutdown
        (:mod:`atomr.actor.coordinated_shutdown`), its phases run first,
        with reason ``"ActorSystemTerminateReason"`` (or the one under way
        is joined), and their last one terminates the system (config
        ``coordinated-shutdown.run-by-actor-system-terminate``, default on).
        It runs on a thread of its own, so calling this from an actor or a
        shutdown task does not block."""
        from atomr.actor.coordinated_shutdown import ACTOR_SYSTEM_TERMINATE_REASON

        shutdown = self._coordinated_shutdown()
        if shutdown is None:
            return self._final_terminate()
        try:
            shutdown.run(ACTOR_SYSTEM_TERMINATE_REASON)  # or joins the one under way
        except RuntimeError:  # no thread to run it on: the interpreter is exiting
            return self._final_terminate()
        return self.when_terminated()

    def when_terminated(self) -> Any:
        """An awaitable resolved once the system has terminated (at once if it has)."""
        loop = _get_running_loop()
        if loop is None:
            return _await_cf_shielded(self._core.termination)
        # Shielded: cancelling one waiter must not cancel the termination.
        return asyncio.shield(asyncio.wrap_future(self._core.termination, loop=loop))

    def terminate_blocking(self, timeout: Optional[float] = None) -> None:
        """Terminates the system and waits for it (and its loop thread).

        The same rules as :meth:`terminate` apply (coordinated shutdown
        included), so it returns within about ``actor.terminate-timeout``
        seconds plus one, plus the time of the coordinated shutdown's phases.

        Raises:
            RuntimeError: called on the system's own loop thread, or in a
                task of the coordinated shutdown it would wait for.
            TimeoutError: not terminated within `timeout` seconds.
        """
        if self._core.on_loop_thread():
            raise RuntimeError("terminate_blocking() on the system's own loop thread would "
                               "deadlock; use `await system.terminate()` there")
        from atomr.actor.coordinated_shutdown import ACTOR_SYSTEM_TERMINATE_REASON

        shutdown = self._coordinated_shutdown()
        if shutdown is None:
            self._request_terminate()
        elif shutdown.in_own_task():
            raise RuntimeError("terminate_blocking() in a task of the coordinated shutdown "
                               "would wait for that task; use system.terminate() there")
        else:
            try:
                shutdown.run(ACTOR_SYSTEM_TERMINATE_REASON)  # or joins the one under way
            except RuntimeError:  # no thread to run it on: the interpreter is exiting
                self._request_terminate()
        try:
            self._core.termination.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"actor system {self.name} did not terminate within "
                               f"{timeout}s") from None
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def check_live(self) -> None:
        """Raises unless the system is running (neither terminating nor terminated).

        For subsystems and tools that must refuse work on a closed system.

        Raises:
            ActorSystemTerminatedError: the system is terminating or terminated.
        """
        if self._core.terminating:
            raise ActorSystemTerminatedError(f"actor system {self.name} is terminated")

    _check_live = check_live

    def register_on_termination(self, callback: Callable[[], Any]) -> None:
        """Calls ``callback()`` once the system has terminated.

        It runs on the system's loop thread after every actor has stopped
        and every extension has shut down, before the awaitables of
        :meth:`terminate` / :meth:`when_terminated` resolve; callbacks run
        in registration order. On a system that has already terminated it
        runs at once, on the calling thread. Exceptions are logged, never
        raised.

        Raises:
            TypeError: `callback` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        with self._extensions_lock:
            if not self._core.terminated:
                self._on_termination.append(callback)
                return
        self._run_termination_callback(callback)

    # -- extensions -------------------------------------------------------------

    def extension(self, ext_id: "ExtensionId[E]") -> E:
        """The extension `ext_id` identifies, created on first use.

        Each system builds at most one instance per id (thread-safe: a
        concurrent first use of the same id waits for the one creation;
        different ids are created independently, and an extension may get
        others while it is created). The extensions are shut down when the
        system terminates, newest first (so one created while creating
        another is shut down after it).

        Raises:
            ActorSystemTerminatedError: the system is terminating or terminated.
            TypeError: `ext_id` is not an :class:`~atomr.actor.ExtensionId`,
                or its ``create_extension`` did not return an
                :class:`~atomr.actor.Extension`.
        """
        extension = self._extensions.get(ext_id)
        if extension is not None:
            return extension  # type: ignore[return-value]
        if not isinstance(ext_id, ExtensionId):
            raise TypeError(f"expected an ExtensionId, not {type(ext_id).__name__}")
        with self._extensions_lock:
            creating = self._extension_locks.setdefault(ext_id, threading.RLock())
        with creating:
            extension = self._extensions.get(ext_id)
            if extension is not None:
                return extension  # type: ignore[return-value]
            self.check_live()
            extension = ext_id.create_extension(self)
            if not isinstance(extension, Extension):
                raise TypeError(f"{type(ext_id).__qualname__}.create_extension must return an "
                                f"Extension, not {type(extension).__name__}")
            with self._extensions_lock:
                if not self._extensions_closed:
                    self._extensions[ext_id] = extension
                    return extension  # type: ignore[return-value]
        # The system terminated while the extension was being created.
        self._shutdown_extension(ext_id, extension)
        raise ActorSystemTerminatedError(f"actor system {self.name} is terminated")

    def has_extension(self, ext_id: ExtensionId[Any]) -> bool:
        """Whether the extension `ext_id` identifies has been created in this system."""
        return ext_id in self._extensions

    # -- introspection (for tools and the test kit) --------------------------------

    def top_level_refs(self) -> list[ActorRef]:
        """Refs of the live top-level actors (under ``/user``), for tools and
        the test kit (e.g. reporting actors left running at shutdown)."""
        return self._core.top_level_refs()

    def live_timers(self) -> list[Any]:
        """The pending timers owned by this system's actors (their
        :class:`~atomr.Cancelable` handles), for tools and the test kit
        (e.g. reporting timers left pending at shutdown)."""
        return self._core.live_timers()

    def __repr__(self) -> str:
        state = "terminated" if self._core.terminated else "running"
        return f"<ActorSystem {self.name} {state}>"


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancels the tasks left on a system's own loop, waits a moment for
    them (a task that ignores its cancellation is abandoned and logged),
    and closes the loop."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = loop.run_until_complete(asyncio.wait(pending, timeout=_CLOSE_GRACE))
            if stuck:
                _log.warning("abandoning %d task(s) that ignored their cancellation: %s",
                             len(stuck), ", ".join(sorted(repr(t.get_coro()) for t in stuck)))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _skipped_at_exit(system: ActorSystem, why: str) -> None:
    _log.error("actor system %s was still running at interpreter exit and %s: the post_stop "
               "hooks of its %d actor(s) did not run. Terminate systems before their loop "
               "ends (await system.terminate(), or system.terminate_blocking()).",
               system.name, why, system._core.live_cells)


def _terminate_at_exit(system: ActorSystem) -> None:
    """Terminates one live system at interpreter exit, waiting at most
    `_EXIT_WAIT` seconds; says loudly when its actors' post_stop hooks
    could not run."""
    core = system._core
    if system._thread is not None:  # its own loop, on a daemon thread still running
        try:
            system.terminate_blocking(timeout=_EXIT_WAIT)
        except TimeoutError:
            _skipped_at_exit(system, f"did not terminate within {_EXIT_WAIT:g}s")
        return
    loop = system.loop
    if loop.is_closed():
        _skipped_at_exit(system, "its event loop is closed")
    elif loop.is_running():  # running on another (daemon) thread
        loop.call_soon_threadsafe(core.begin_terminate)
        try:
            core.termination.result(_EXIT_WAIT)
        except concurrent.futures.TimeoutError:
            _skipped_at_exit(system, f"did not terminate within {_EXIT_WAIT:g}s")
    else:  # an idle loop: run it until the system has terminated
        try:
            loop.run_until_complete(asyncio.wait_for(system.terminate(), _EXIT_WAIT))
        except (asyncio.TimeoutError, TimeoutError):
            _skipped_at_exit(system, f"did not terminate within {_EXIT_WAIT:g}s")


@atexit.register
def _terminate_live_systems() -> None:
    """At interpreter exit, terminates every system still running, so that
    its actors' post_stop hooks run (each system waited for at most
    `_EXIT_WAIT` seconds); a system whose loop is gone gets a loud error
    naming it instead."""
    for system in list(_CREATED):
        if system._core.terminated:
            continue
        try:
            _terminate_at_exit(system)
        except BaseException as exc:  # never block interpreter exit
            _log.error("could not terminate actor system %s at exit: %s", system.name, exc)
