"""python-subinterpreter-pool: actors in own-GIL subinterpreters (PEP 684,
Python 3.12+), the main interpreter's side.

``count`` subinterpreters, each created, run and finalized by a thread of
its own (``atomr._native._subinterp``), each running the dispatcher loop
of :mod:`atomr.interpreter._subrt` over its actors. Mail crosses as bytes
(pickle, refs as persistent ids) over C++ channels that need no GIL but
the caller's: one inbox per interpreter, one outbox per pool read by a
reader thread here, which completes asks, delivers the pool's mail to
main-interpreter actors, and turns lifecycle notices into ``Terminated``
for watchers.

The interpreters start when the pool is configured and are finalized when
the last actor system that spawned into the pool terminates (or at
:func:`~atomr.interpreter.shutdown_pools`, or at exit); a later spawn
starts them again.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import io
import itertools
import json
import logging
import math
import os
import pickle
import sys
import threading
import time
import weakref
from typing import Any, Optional

from atomr._native import _subinterp as _chan
from atomr.actor import Actor, ActorRef, ActorSystem, Terminated, props
from atomr.errors import (
    ActorNameTakenError,
    ActorTerminatedError,
    AskTimeoutError,
    AtomrError,
    InterpreterOverloaded,
)
from atomr._util.exports import public_module
from atomr.interpreter._quota import InterpreterQuota
from atomr.interpreter._subwire import CODEC_MARK, codec_payload, pack, split_codec_payload, unpack

_log = logging.getLogger("atomr.interpreter")

#: Seconds an interpreter may take to start (a loaded 2-core machine).
START_DEADLINE = 60.0
#: Seconds finalizing one interpreter may take before it is given up on.
JOIN_DEADLINE = 30.0
#: Seconds a metrics request to an interpreter may take.
REQUEST_TIMEOUT = 1.0

_METRIC_KEYS = ("actors_hosted", "messages_handled", "gil_hold_ns_total",
                "mailbox_depth_total", "handler_panics", "long_handlers")

_IDS = itertools.count(1)
#: Each start of a pool's interpreters numbers the children its actors
#: spawn from a block of its own (far above the ids _IDS hands out).
_ID_BLOCKS = itertools.count(1)
ID_BLOCK = 1 << 40
_MAIN_LOCK = threading.Lock()
# Main-interpreter refs that travelled into a pool, by id, with how many
# copies were sent in and not yet released: an interpreter tells how many
# copies it got once it holds no ref to the actor any more, and the entry
# goes when every copy sent is accounted for. (A copy inside a message that
# never arrived, e.g. to an actor that had stopped, keeps its entry.)
_MAIN_REFS: dict[int, ActorRef] = {}
_MAIN_IDS: dict[ActorRef, int] = {}
_MAIN_COUNTS: dict[int, int] = {}
# The ref (with the pooled actor's path) a main actor sees as ctx.sender of
# mail from a pooled actor, to the pooled actor it stands for.
_PROXY_OF: dict[ActorRef, "SubinterpreterActorRef"] = {}
# Every pooled actor's ref, by id (until its pool is finalized).
_ACTORS: dict[int, "SubinterpreterActorRef"] = {}


def bootstrap(index: int, inbox: int, outbox: int, quota: dict[str, Any],
              id_base: int = 0) -> str:
    """The script an interpreter of a pool runs: registers empty packages
    for ``atomr`` and the subpackages whose ``__init__`` imports the native
    core, then runs the pool runtime. On 3.12 it hides asyncio's C
    accelerator first (its state is shared by all interpreters there; see
    :mod:`atomr.interpreter._subrt`)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(_chan.__file__)))
    packages = {"atomr": root, "atomr._native": os.path.join(root, "_native"),
                "atomr.actor": os.path.join(root, "actor"),
                "atomr.interpreter": os.path.join(root, "interpreter")}
    return (
        "import sys, types\n"
        "if sys.version_info < (3, 13):\n"
        "    sys.modules['_asyncio'] = None\n"
        f"sys.path[:] = {[p for p in sys.path]!r}\n"
        f"for _name, _path in {packages!r}.items():\n"
        "    _m = types.ModuleType(_name)\n"
        "    _m.__path__ = [_path]\n"
        "    sys.modules[_name] = _m\n"
        "from atomr.interpreter import _subrt\n"
        f"_subrt.main({index}, {inbox}, {outbox}, __import__('json').loads({json.dumps(quota)!r}), "
        f"{id_base})\n"
    )


def _main_id(ref: ActorRef) -> int:
    """The id of main-interpreter `ref` for one more copy sent into a pool."""
    with _MAIN_LOCK:
        ident = _MAIN_IDS.get(ref)
        if ident is None:
            ident = next(_IDS)
            _MAIN_IDS[ref] = ident
            _MAIN_REFS[ident] = ref
            _MAIN_COUNTS[ident] = 0
        _MAIN_COUNTS[ident] += 1
        return ident


def _release(ident: int, count: int) -> None:
    """An interpreter holds no ref to main actor `ident` any more, having
    received `count` copies of it."""
    with _MAIN_LOCK:
        left = _MAIN_COUNTS.get(ident)
        if left is None:
            return
        left -= count
        if left > 0:
            _MAIN_COUNTS[ident] = left
            return
        del _MAIN_COUNTS[ident]
        ref = _MAIN_REFS.pop(ident, None)
        if ref is not None:
            _MAIN_IDS.pop(ref, None)


def _ref_token(obj: Any) -> Any:
    """The persistent id of a ref sent into a pool (None: not a ref)."""
    if type(obj) is SubinterpreterActorRef:
        return ("s", obj._aid, obj._path)
    if isinstance(obj, ActorRef):
        sub = _PROXY_OF.get(obj)
        if sub is not None:  # a pooled actor, as main actors see it
            return ("s", sub._aid, sub._path)
        return ("m", _main_id(obj), obj.path)
    return None


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return _ref_token(obj)


def _from_token(token: Any) -> Any:
    """The ref a persistent id names here (None: gone)."""
    kind, ident, _path = token
    if kind == "s":
        return _ACTORS.get(ident)
    return _MAIN_REFS.get(ident)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        return _from_token(pid)


#: Messages without refs are plain pickles of protocol 5; those with refs
#: (persistent ids) are pickled with protocol 4, so the first bytes tell a
#: decoder whether it needs the persistent loader (and the plain path stays
#: the C pickler's, without a Python-level Pickler per message).
PLAIN_PROTOCOL = 5
REFS_PROTOCOL = 4
_PLAIN_HEAD = bytes((0x80, PLAIN_PROTOCOL))


def encode(msg: Any) -> bytes:
    """`msg` pickled for a pool; TypeError naming it when it cannot be."""
    try:
        return pickle.dumps(msg, PLAIN_PROTOCOL)
    except Exception:  # refs inside (their __reduce__ refuses), or not picklable at all
        pass
    buf = io.BytesIO()
    try:
        _Pickler(buf, REFS_PROTOCOL).dump(msg)
    except Exception as exc:
        raise TypeError(f"a message of type {type(msg).__name__} cannot cross into a "
                        f"subinterpreter (it is pickled): {exc}") from None
    return buf.getvalue()


def decode(data: bytes) -> Any:
    if data[0] == CODEC_MARK:
        manifest, blob = split_codec_payload(data)
        codec = _SHIPPED.get(manifest)
        if codec is None:
            raise TypeError(f"no codec for manifest `{manifest}` was sent into the pool")
        return codec.decoder(blob)
    if data[1] == PLAIN_PROTOCOL:
        return pickle.loads(data)
    return _Unpickler(io.BytesIO(data)).load()


# Codecs of the registry sent into interpreters, by manifest (the main
# interpreter decodes what comes back with them).
_SHIPPED: dict[str, Any] = {}


class _Codecs:
    """Which codec of a system's registry carries a message of a given
    type into a pool: none for builtin types (pickle carries them, refs
    included, tuples staying tuples), else the registry's explicit codec
    for the type's manifest, if its encoder and decoder can be sent by
    reference (importable functions). Cached per type until the registry
    changes."""

    def __init__(self) -> None:
        self.state: Any = None
        self.by_type: dict[type, Any] = {}

    def lookup(self, registry: Any, cls: type) -> Any:
        """``(manifest, codec)`` or None."""
        state = getattr(registry, "_state", None)
        if state is not self.state:
            self.state = state
            self.by_type = {}
        try:
            return self.by_type[cls]
        except KeyError:
            pass
        found = None
        if cls.__module__ != "builtins" and state is not None:
            from atomr.codecs import class_manifest

            try:
                manifest = class_manifest(cls)
            except TypeError:
                manifest = None
            codec = state.codecs.get(manifest) if manifest is not None else None
            if codec is not None:
                try:
                    shipped = pickle.dumps((manifest, codec.name, codec.encoder, codec.decoder))
                except Exception:  # a lambda or a closure: pickle carries this type
                    shipped = None
                if shipped is not None:
                    found = (manifest, codec, shipped)
        self.by_type[cls] = found
        return found


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
    if not timeout > 0 or math.isinf(timeout):
        raise ValueError(f"timeout must be a positive, finite number, not {timeout!r}")
    return float(timeout)


@public_module("atomr.interpreter")
class SubinterpreterActorRef:
    """A ref to an actor in a ``python-subinterpreter-pool``, used from the
    main interpreter as a local ref is: ``tell``, ``ask``,
    ``ask_blocking``, ``forward``, ``stop``, ``ctx.watch``. Messages are
    pickled at the call (a message that cannot be raises TypeError there);
    main-interpreter refs inside them arrive as refs the pooled actor can
    tell. Equal when they name the same actor."""

    __slots__ = ("_pool", "_aid", "_path", "_worker", "_inbox", "_system", "_stopped",
                 "_watchers", "_proxy", "__weakref__")

    def __init__(self, pool: "SubinterpreterPool", aid: int, path: str, worker: int,
                 system: ActorSystem) -> None:
        self._pool = pool
        self._aid = aid
        self._path = path
        self._worker = worker
        # the interpreter's inbox channel (stopped refs never use it again)
        self._inbox = pool.interps[worker].inbox
        self._system = weakref.ref(system)
        self._stopped = False
        # main-interpreter ActorRefs and pooled actors' refs (both tell)
        self._watchers: set[Any] = set()
        # the main actor standing in for this one as a sender (see _proxy_for)
        self._proxy: Optional[ActorRef] = None

    @property
    def path(self) -> str:
        """``akka://<system>@<label>.<index>/user/<name>``: the system that
        spawned it, the pool and the interpreter's index in it."""
        return self._path

    @property
    def name(self) -> str:
        """The last path element."""
        return self._path.rpartition("/")[2]

    def tell(self, msg: Any, sender: Any = None) -> None:
        """Sends `msg` without waiting; with a `sender` (a ref) the pooled
        handler sees it as ``ctx.sender``. Mail to a stopped actor is dropped.

        Raises:
            TypeError: `msg` cannot be pickled, or `sender` is not a ref.
        """
        token = None if sender is None else self._sender_token(sender)
        payload = encode(msg) if type(msg).__module__ == "builtins" else \
            self._pool.encode_for(self, msg)
        if self._stopped:
            return
        try:
            _chan.channel_push(self._inbox, pack("msg", self._aid, 0, token, payload))
        except ValueError:  # the pool was finalized meanwhile: dropped, as for a stopped actor
            pass

    def tell_with_sender(self, msg: Any, sender: Any) -> None:
        """``tell(msg, sender)``."""
        self.tell(msg, sender)

    def ask(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """Sends `msg` at once; returns an awaitable of the handler's return
        value (a handler exception is raised with its own type when it can
        be pickled, else as AtomrError naming it).

        Raises:
            TypeError: (at the call) `msg` cannot be pickled.
            ValueError: (at the call) `timeout` is not a positive number.
            AskTimeoutError: (when awaited) no answer within `timeout`.
            ActorTerminatedError: (when awaited) the actor is stopped.
        """
        t = _check_timeout(timeout)
        ask_id, fut = self._pool._ask(self, self._pool.encode_for(self, msg))
        return self._pool._await(ask_id, fut, t, self._path)

    def ask_blocking(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """:meth:`ask` for a thread that is not the spawning system's loop:
        blocks (without the GIL) for the answer.

        Raises:
            RuntimeError: called on the spawning system's loop thread.
            TypeError, ValueError, AskTimeoutError, ActorTerminatedError: as :meth:`ask`.
        """
        t = _check_timeout(timeout)
        system = self._system()
        if system is not None and system._core.on_loop_thread():
            raise RuntimeError("ask_blocking() called on the actor system's own loop thread "
                               "would block it; use `await ref.ask(...)` there")
        ask_id, fut = self._pool._ask(self, self._pool.encode_for(self, msg))
        try:
            return fut.result(t)
        except concurrent.futures.TimeoutError:
            self._pool._pending.pop(ask_id, None)
            raise AskTimeoutError(f"ask to {self._path} timed out after {t:g}s") from None

    def forward(self, msg: Any, ctx: Any) -> None:
        """``ctx.forward(self, msg)``: keeps the current message's sender and
        pending ask (the pooled handler's answer completes it)."""
        ctx.forward(self, msg)

    def _forward(self, msg: Any, sender: Any, reply: Any) -> None:
        token = self._sender_token(sender)
        if reply is None:
            self._pool._post(self, "msg", 0, token, encode(msg))
            return
        try:
            payload = encode(msg)
        except BaseException as exc:
            reply.fail(exc)
            raise
        self._pool._ask(self, payload, token, reply)

    def stop(self) -> None:
        """Stops the actor (its post_stop runs in its interpreter)."""
        self._pool._post(self, "stop", 0, None, b"")

    def is_terminated(self) -> bool:
        """True once the actor has stopped."""
        return self._stopped

    def _sender_token(self, sender: Any) -> Any:
        if sender is None:
            return None
        token = _ref_token(sender)
        if token is None:
            raise TypeError(f"sender must be an actor ref or None, not {type(sender).__name__}")
        return token

    def _watched_by(self, watcher: Any) -> None:
        """``ctx.watch(self)`` in `watcher`: Terminated(path) once it stops."""
        with self._pool.lock:
            if not self._stopped:
                self._watchers.add(watcher)
                return
        watcher.tell(Terminated(self._path))

    def _unwatched_by(self, watcher: Any) -> None:
        with self._pool.lock:
            self._watchers.discard(watcher)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubinterpreterActorRef):
            return NotImplemented
        return self._aid == other._aid

    def __hash__(self) -> int:
        return hash(("sub", self._aid))

    def __repr__(self) -> str:
        return f"<SubinterpreterActorRef path={self._path}>"

    def __reduce__(self) -> Any:
        raise TypeError("a SubinterpreterActorRef cannot be pickled; send it to actors of "
                        "its pool, or its path across processes")


class _Interp:
    __slots__ = ("index", "ident", "inbox", "actors", "codecs")

    def __init__(self, index: int) -> None:
        self.index = index
        self.ident = 0
        self.inbox = 0
        self.actors = 0
        self.codecs: dict[str, Any] = {}  # the codec sent in, by manifest


class SubinterpreterPool:
    """`count` own-GIL subinterpreters hosting the actors of pool `label`."""

    def __init__(self, label: str, count: int, quota: InterpreterQuota) -> None:
        self.label = label
        self.count = count
        self.quota = quota
        self.lock = threading.RLock()  # the names, counts, watchers
        self.life = threading.Lock()  # start and finalize
        self.interps: list[_Interp] = []
        self.outbox = 0
        self.reader: Optional[threading.Thread] = None
        self.running = False
        self.closed = False
        self.names: dict[str, SubinterpreterActorRef] = {}
        self._pending: dict[int, Any] = {}
        self.actor_restarts = 0
        self.starts = 0
        self.systems: "weakref.WeakSet[ActorSystem]" = weakref.WeakSet()
        self.codec_cache = _Codecs()

    # -- interpreters -----------------------------------------------------------

    def start(self) -> None:
        """Starts the interpreters and waits until each runs its loop.

        Raises:
            AtomrError: an interpreter failed to start (the others are ended).
        """
        with self.life:
            if self.closed:
                raise AtomrError(f"interpreter pool {self.label!r} is shut down")
            if self.running:
                return
            self.outbox = _chan.channel_new()
            quota = self.quota.to_dict()
            self.interps = []
            try:
                for i in range(self.count):
                    it = _Interp(i)
                    it.inbox = _chan.channel_new()
                    self.interps.append(it)
                    it.ident = _chan.interp_start(bootstrap(
                        i, it.inbox, self.outbox, quota, next(_ID_BLOCKS) * ID_BLOCK))
                self._wait_ready()
            except BaseException:
                self._end_interps()
                raise
            self.running = True
            self.starts += 1
            self.reader = threading.Thread(target=self._read, daemon=True,
                                           name=f"atomr-subpool-{self.label}")
            self.reader.start()
            _ALL.add(self)

    def _wait_ready(self) -> None:
        ready: set[int] = set()
        deadline = time.monotonic() + START_DEADLINE
        while len(ready) < len(self.interps):
            items = _chan.channel_pop(self.outbox, 0.05)
            for raw in items or ():
                op, index = unpack(raw)[:2]
                if op == "ready":
                    ready.add(index)
            for it in self.interps:
                if it.index in ready or not it.ident:
                    continue
                ended, failed, error = _chan.interp_status(it.ident)
                if ended:
                    raise AtomrError(f"subinterpreter {it.index} of pool {self.label!r} did "
                                     f"not start: {error or 'it ended'}")
            if time.monotonic() > deadline:
                raise AtomrError(f"the subinterpreters of pool {self.label!r} did not start "
                                 f"within {START_DEADLINE:g}s")

    def _end_interps(self) -> None:
        """Closes the inboxes (each loop stops its actors and returns), waits
        for the interpreters to be finalized, then ends the reader."""
        for it in self.interps:
            if it.inbox:
                _chan.channel_close(it.inbox)
        for it in self.interps:
            if it.ident and not _chan.interp_join(it.ident, JOIN_DEADLINE):
                _log.error("subinterpreter %d of pool %r did not end within %gs", it.index,
                           self.label, JOIN_DEADLINE)
            if it.inbox:
                _chan.channel_free(it.inbox)
        if self.outbox:
            _chan.channel_close(self.outbox)
        reader = self.reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(JOIN_DEADLINE)
        if self.outbox:
            _chan.channel_free(self.outbox)
        self.reader = None
        self.interps = []
        self.outbox = 0

    def finalize(self) -> None:
        """Stops every actor and finalizes the interpreters (a later spawn
        starts them again)."""
        with self.life:
            if not self.running:
                return
            with self.lock:
                self.running = False
            self._end_interps()  # the reader still delivers the last notices
            with self.lock:
                refs = [r for r in _ACTORS.values() if r._pool is self]
                pending, self._pending = self._pending, {}
                self.names.clear()
        for ref in refs:
            self._stopped(ref)
            _ACTORS.pop(ref._aid, None)
        for fut in pending.values():
            self._resolve(fut, False, ActorTerminatedError(
                f"interpreter pool {self.label!r} was shut down"))

    def close(self) -> None:
        """Finalizes the interpreters for good."""
        self.closed = True
        self.finalize()

    # -- the main interpreter's side of the mail ---------------------------------

    def encode_for(self, ref: "SubinterpreterActorRef", msg: Any) -> bytes:
        """`msg` for pooled actor `ref`: with the codec its system's registry
        has for the message's manifest (sent into the interpreter first,
        once), else pickled (:func:`encode`)."""
        cls = type(msg)
        if cls.__module__ == "builtins":
            return encode(msg)
        system = ref._system()
        if system is None:
            return encode(msg)
        found = self.codec_cache.lookup(system.codecs, cls)
        if found is None:
            return encode(msg)
        manifest, codec, shipped = found
        it = self.interps[ref._worker] if ref._worker < len(self.interps) else None
        if it is None:
            return encode(msg)
        try:
            blob = codec.encoder(msg)
        except Exception as exc:
            raise TypeError(f"codec `{codec.name}` failed to encode a {cls.__name__} for a "
                            f"subinterpreter: {type(exc).__name__}: {exc}") from exc
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise TypeError(f"codec `{codec.name}` returned {type(blob).__name__}, not bytes")
        if it.codecs.get(manifest) is not codec:
            _SHIPPED[manifest] = codec
            it.codecs[manifest] = codec
            _chan.channel_push(it.inbox, pack("codec", 0, 0, None, shipped))
        return codec_payload(manifest, bytes(blob))

    def _push(self, worker: int, op: str, aid: int, ask_id: int, sender: Any,
              payload: bytes) -> bool:
        interps = self.interps
        if worker >= len(interps):
            return False
        return bool(_chan.channel_push(interps[worker].inbox,
                                       pack(op, aid, ask_id, sender, payload)))

    def _post(self, ref: SubinterpreterActorRef, op: str, ask_id: int, sender: Any,
              payload: bytes) -> bool:
        if ref._stopped:
            return False
        try:
            return bool(_chan.channel_push(ref._inbox, pack(op, ref._aid, ask_id, sender,
                                                            payload)))
        except ValueError:  # finalized meanwhile
            return False

    def _ask(self, ref: SubinterpreterActorRef, payload: bytes, sender: Any = None,
             reply: Any = None) -> tuple[int, Any]:
        ask_id = next(_IDS)
        fut: Any = concurrent.futures.Future() if reply is None else reply
        self._pending[ask_id] = fut
        if not self._post(ref, "msg", ask_id, sender, payload):
            self._pending.pop(ask_id, None)
            self._resolve(fut, False, ActorTerminatedError(f"actor {ref._path} is stopped"))
        return ask_id, fut

    async def _await(self, ask_id: int, fut: Any, timeout: Optional[float], path: str) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self._pending.pop(ask_id, None)
            raise AskTimeoutError(f"ask to {path} timed out after {timeout:g}s") from None

    @staticmethod
    def _resolve(fut: Any, ok: bool, value: Any) -> None:
        if isinstance(fut, concurrent.futures.Future):
            if fut.done():
                return
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
            return
        if fut.answered:  # a DeferredReply of a forwarded ask
            return
        if ok:
            fut.tell(value)
        else:
            fut.fail(value)

    def _stopped(self, ref: SubinterpreterActorRef) -> None:
        with self.lock:
            if ref._stopped:
                return
            ref._stopped = True
            watchers, ref._watchers = ref._watchers, set()
            if self.names.get(ref.name) is ref:
                del self.names[ref.name]
            if ref._worker < len(self.interps):
                self.interps[ref._worker].actors -= 1
            proxy, ref._proxy = ref._proxy, None
        if proxy is not None:
            _PROXY_OF.pop(proxy, None)
            proxy.stop()
        for watcher in watchers:
            watcher.tell(Terminated(ref._path))

    def _read(self) -> None:
        """The reader thread: every notice of every interpreter of the pool."""
        outbox = self.outbox
        while True:
            items = _chan.channel_pop(outbox, -1.0)
            if items is None:
                return
            for raw in items:
                try:
                    self._on(*unpack(raw))
                except Exception:
                    _log.exception("interpreter pool %r: a notice failed", self.label)

    def _on(self, op: str, aid: int, ask_id: int, sender: Any, payload: bytes) -> None:
        if op == "reply":
            fut = self._pending.pop(ask_id, None)
            if fut is None:
                return  # timed out
            try:
                value, ok = decode(payload), bool(sender)
            except Exception as exc:
                value, ok = TypeError(f"the reply cannot be decoded here: {exc}"), False
            self._resolve(fut, ok, value)
        elif op == "tell":
            kind, token = sender
            sender_ref = None if token is None else _from_token(token)
            if kind == "m":
                target = _MAIN_REFS.get(aid)
                if target is not None:
                    if type(sender_ref) is SubinterpreterActorRef:
                        sender_ref = self._proxy_for(sender_ref)
                    target.tell_with_sender(decode(payload), sender_ref)
            else:
                sub = _ACTORS.get(aid)
                if sub is not None:
                    if payload[:2] == _PLAIN_HEAD:  # no refs inside: the bytes go on as they are
                        self._post(sub, "msg", 0, sub._sender_token(sender_ref), payload)
                    else:
                        sub.tell(decode(payload), sender_ref)
        elif op == "ask":  # a pooled actor asks one of another interpreter or the main one
            kind, _token, index, timeout = sender
            relay = _Relay(self, index, ask_id)
            if kind == "s":
                sub = _ACTORS.get(aid)
                if sub is None or sub._stopped:
                    relay.fail(ActorTerminatedError(f"actor {aid} is stopped"))
                elif payload[:2] == _PLAIN_HEAD:
                    self._ask(sub, payload, None, relay)
                else:
                    self._ask(sub, encode(decode(payload)), None, relay)
            else:
                self._ask_main(aid, decode(payload), timeout, relay)
        elif op == "child":  # a pooled actor spawned a child in its interpreter
            path, parent_aid = sender
            parent = _ACTORS.get(parent_aid)
            if parent is None:
                return
            child = SubinterpreterActorRef.__new__(SubinterpreterActorRef)
            child._pool, child._aid, child._path = self, aid, path
            child._worker, child._system = parent._worker, parent._system
            child._inbox = parent._inbox
            child._stopped, child._watchers, child._proxy = False, set(), None
            with self.lock:
                _ACTORS[aid] = child
                if child._worker < len(self.interps):
                    self.interps[child._worker].actors += 1
        elif op in ("watch-main", "unwatch-main"):  # a pooled actor watches a main one
            watcher_aid, path = sender
            pooled, main_ref = _ACTORS.get(watcher_aid), _MAIN_REFS.get(aid)
            if pooled is None:
                return
            if main_ref is None:
                if op == "watch-main":
                    pooled.tell(Terminated(path, existence_confirmed=False))
                return
            proxy = self._proxy_for(pooled)
            if proxy is not None:
                proxy.tell(_Watch(main_ref, op == "watch-main"))
        elif op == "release":
            _release(aid, ask_id)
        elif op == "stopped":
            ref = _ACTORS.get(aid)
            if ref is not None:
                self._stopped(ref)
        elif op == "spawn-failed":
            ref = _ACTORS.get(aid)
            _log.error("interpreter pool %r: spawning %s failed: %s", self.label,
                       ref.path if ref is not None else aid, decode(payload))
            if ref is not None:
                self._stopped(ref)
        elif op in ("watch", "unwatch"):  # a pooled actor watches one in another interpreter
            watcher_aid, path = sender
            watcher, watched = _ACTORS.get(watcher_aid), _ACTORS.get(aid)
            if watcher is None:
                return
            if op == "unwatch":
                if watched is not None:
                    watched._unwatched_by(watcher)
            elif watched is None:
                watcher.tell(Terminated(path, existence_confirmed=False))
            else:
                watched._watched_by(watcher)
        elif op == "restarted":
            self.actor_restarts += 1
        elif op == "stop":
            ref = _ACTORS.get(aid)
            if ref is not None:
                ref.stop()
        elif op == "metrics":
            fut = self._pending.pop(ask_id, None)
            if fut is not None:
                self._resolve(fut, True, decode(payload))
        elif op not in ("started", "ready"):
            _log.error("interpreter pool %r: unknown notice %r", self.label, op)

    def _proxy_for(self, ref: SubinterpreterActorRef) -> Optional[ActorRef]:
        """The main actor standing in for pooled actor `ref` (spawned at its
        first need, in the system that spawned `ref`): main actors see it,
        with `ref`'s path, as ``ctx.sender``, and what they send it reaches
        `ref`; it also watches main actors for `ref`. None when that system
        is gone."""
        with self.lock:
            proxy = ref._proxy
            if proxy is not None or ref._stopped:
                return proxy
            system = ref._system()
            if system is None or system.is_terminated:
                return None
            try:
                base = system.actor_of(props(_Proxy, factory=functools.partial(_Proxy, ref)),
                                       f"subinterpreter-proxy-{ref._aid}")
            except Exception as exc:
                _log.warning("interpreter pool %r: no stand-in for %s: %s", self.label,
                             ref._path, exc)
                return None
            proxy = base.with_path(ref._path)
            ref._proxy = proxy
            _PROXY_OF[proxy] = ref
            return proxy

    def _ask_main(self, aid: int, msg: Any, timeout: Optional[float], relay: "_Relay") -> None:
        """A pooled actor's ask of main actor `aid`, made on a live
        system's loop; the answer goes back through `relay`."""
        target = _MAIN_REFS.get(aid)
        loop = None
        for system in list(self.systems):
            if not system.is_terminated:
                loop = system.loop
                break
        if target is None or loop is None:
            relay.fail(ActorTerminatedError(f"actor {aid} of the main interpreter is gone"))
            return

        async def ask() -> Any:
            return await target.ask(msg, timeout)

        def done(cf: "concurrent.futures.Future[Any]") -> None:
            if cf.cancelled():
                relay.fail(ActorTerminatedError(f"the ask to {target.path} was cancelled"))
                return
            exc = cf.exception()
            if exc is None:
                relay.tell(cf.result())
            else:
                relay.fail(exc)

        try:
            asyncio.run_coroutine_threadsafe(ask(), loop).add_done_callback(done)
        except RuntimeError as exc:  # the loop closed meanwhile
            relay.fail(ActorTerminatedError(f"the ask to {target.path} failed: {exc}"))

    # -- spawning ---------------------------------------------------------------

    def spawn(self, system: ActorSystem, props: Any, name: Optional[str]) -> Any:
        """Spawns an actor of `props` in the interpreter with the fewest
        actors; returns its ref at once (mail sent right after is handled
        by the new actor: the spawn request goes first on the same inbox)."""
        from atomr._native import validate_name
        from atomr.interpreter._process import _class_path

        system.check_live()
        module, qualname = _class_path(props)
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"actor name must be a str, not {type(name).__name__}")
            validate_name(name)
        if not self.running:
            self.start()
        with self.lock:
            if not self.running:
                raise AtomrError(f"interpreter pool {self.label!r} is shutting down")
            if name is not None and name in self.names:
                raise ActorNameTakenError(
                    f"actor name `{name}` already taken in interpreter pool {self.label!r}")
            limit = self.quota.max_actors
            if limit is not None and len(self.names) >= limit:
                raise InterpreterOverloaded(
                    f"interpreter pool {self.label!r} hosts its maximum of {limit} actor(s)")
            if name is None:
                n = len(self.names)
                while f"pooled-{n}" in self.names:
                    n += 1
                name = f"pooled-{n}"
            it = min(self.interps, key=lambda i: i.actors)
            aid = next(_IDS)
            path = f"akka://{system.name}@{self.label}.{it.index}/user/{name}"
            ref = SubinterpreterActorRef(self, aid, path, it.index, system)
            it.actors += 1
            self.names[name] = ref
            _ACTORS[aid] = ref
            if system not in self.systems:
                self.systems.add(system)
                system.register_on_termination(
                    functools.partial(self._system_ended, weakref.ref(system)))
            strategy = getattr(props, "supervisor_strategy", None)
            if strategy is not None:
                strategy = (strategy.kind, list(strategy.rules), strategy.default,
                            strategy.max_retries, strategy.within_seconds)
            self._push(it.index, "spawn", aid, 0, (module, qualname, path, strategy), b"")
        return ref

    def _system_ended(self, system_ref: Any) -> None:
        """A system that spawned here terminated: its actors stop; with it
        the last, the interpreters are finalized."""
        system = system_ref()
        with self.lock:
            if system is not None:
                self.systems.discard(system)
            live = [s for s in self.systems if not s.is_terminated]
            mine = [r for r in _ACTORS.values()
                    if r._pool is self and r._system() in (None, system)]
        if not live:
            self.finalize()
            return
        for ref in mine:
            ref.stop()

    # -- metrics ----------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """The pool's metrics, summed over its interpreters."""
        out: dict[str, Any] = {"label": self.label, "kind": "python-subinterpreter-pool",
                               "system": None}
        out.update(dict.fromkeys(_METRIC_KEYS, 0))
        out["interpreters"] = self.count if self.running else 0
        out["actor_restarts"] = self.actor_restarts
        asks = []
        with self.lock:
            if self.running:
                for it in self.interps:
                    ask_id = next(_IDS)
                    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
                    self._pending[ask_id] = fut
                    self._push(it.index, "metrics", 0, ask_id, None, b"")
                    asks.append((ask_id, fut))
        for ask_id, fut in asks:
            try:
                m = fut.result(REQUEST_TIMEOUT)
            except Exception:
                self._pending.pop(ask_id, None)
                continue
            for key in _METRIC_KEYS:
                out[key] += m[key]
        return out


class _Relay:
    """Where the answer to a pooled actor's ask of an actor elsewhere goes:
    back into the asking interpreter (a DeferredReply's shape, for
    ``SubinterpreterPool._resolve``)."""

    __slots__ = ("pool", "index", "ask_id", "answered")

    def __init__(self, pool: SubinterpreterPool, index: int, ask_id: int) -> None:
        self.pool = pool
        self.index = index
        self.ask_id = ask_id
        self.answered = False

    def tell(self, value: Any) -> None:
        self._send(True, value)

    def fail(self, exc: BaseException) -> None:
        self._send(False, exc)

    def _send(self, ok: bool, value: Any) -> None:
        if self.answered:
            return
        self.answered = True
        try:
            payload = encode(value)
        except Exception as exc:
            ok, payload = False, encode(TypeError(
                f"the answer ({type(value).__name__}) cannot cross interpreters: {exc}"))
        if not ok:
            try:
                if not isinstance(decode(payload), BaseException):
                    raise TypeError("not an exception once decoded")
            except Exception:
                payload = encode(AtomrError(f"{type(value).__name__}: {value}"))
        self.pool._push(self.index, "reply", 0, self.ask_id, ok, payload)


class _Watch:
    """Tells a stand-in (`_Proxy`) to watch or unwatch a main actor."""

    __slots__ = ("ref", "on")

    def __init__(self, ref: ActorRef, on: bool) -> None:
        self.ref = ref
        self.on = on


class _Proxy(Actor):
    """A main actor standing in for a pooled one: what it gets goes on to
    the pooled actor (asks included), and it watches main actors for it
    (their Terminated goes on as well)."""

    def __init__(self, target: SubinterpreterActorRef) -> None:
        self.target = target

    def handle(self, ctx: Any, msg: Any) -> Any:
        if type(msg) is _Watch:
            if msg.on:
                ctx.watch(msg.ref)
            else:
                ctx.unwatch(msg.ref)
            return None
        ctx.forward(self.target)
        return None


_ALL: "weakref.WeakSet[SubinterpreterPool]" = weakref.WeakSet()


def _close_all() -> None:
    for pool in list(_ALL):
        pool.close()


atexit.register(_close_all)
