"""Actor refs inside encoded messages.

A ref crosses the wire as the full path other systems reach it at
(``akka.tcp://<system>@<host>:<port>/user/...``) and comes back as a ref of
the system that decodes it. Both directions need that system, so the codecs
consult the *current transport* (:data:`current_transport`, a context
variable, in the spirit of Akka's ``Serialization.currentTransportInformation``):
the remote extension sets it around every encode of a message it sends and
every decode of one it receives. The transport object turns refs into paths
(``_ref_to_wire``) and paths into refs (``_ref_from_wire``); this module only
knows how each codec writes a path:

* msgpack: an ``ExtType`` of code :data:`MSGPACK_EXT` holding the UTF-8 path;
* JSON: an object ``{"$atomr.ref": path}``;
* dataclass fields annotated with a ref type: the path string;
* msgspec: the path string (through ``enc_hook``/``dec_hook``).

Outside remoting (no transport in context) encoding or decoding a ref
raises an error naming the ref: a local ref's path alone is not an address
another process can use, and a path alone is not a ref.

The hooks cost nothing for messages without refs: msgpack and JSON retry
with them only when plain encoding fails, and decoding looks for a ref
marker only when the bytes contain one.
"""

from __future__ import annotations

import contextvars
from typing import Any, Optional

__all__ = ["current_transport", "register_ref_type", "ref_types", "MSGPACK_EXT", "JSON_KEY"]

#: The transport encoding or decoding the current message (set by the
#: remote extension), or None outside remoting.
current_transport: contextvars.ContextVar[Optional[Any]] = contextvars.ContextVar(
    "atomr.codecs.current_transport", default=None)

#: The msgpack extension type code of an actor ref.
MSGPACK_EXT = 65
#: The only key of the JSON object that stands for an actor ref.
JSON_KEY = "$atomr.ref"
JSON_MARK = b'"$atomr.ref"'

_ref_types: tuple[type, ...] = ()


def register_ref_type(cls: type) -> None:
    """Declares `cls` an actor ref type: its instances are encoded as paths
    and fields annotated with it decode to refs (called by the layers that
    define refs)."""
    global _ref_types
    if cls not in _ref_types:
        _ref_types = (*_ref_types, cls)


def ref_types() -> tuple[type, ...]:
    """The registered actor ref types."""
    return _ref_types


def is_ref(obj: Any) -> bool:
    return isinstance(obj, _ref_types)


def is_ref_type(hint: Any) -> bool:
    """Whether the annotation `hint` is a ref type (``ActorRef``,
    ``ActorRef[Msg]``, ``RemoteActorRef``)."""
    origin = getattr(hint, "__origin__", None)
    if origin is not None and isinstance(origin, type):
        hint = origin
    return isinstance(hint, type) and any(issubclass(hint, t) for t in _ref_types)


def ref_to_path(obj: Any) -> str:
    """The wire path of the ref `obj`.

    Raises:
        TypeError: no transport in context, or `obj` is not a ref it can
            address.
    """
    transport = current_transport.get()
    if transport is None:
        raise TypeError(f"{obj!r} is an actor ref; a ref can only be encoded in a message sent "
                        f"through remoting (atomr.remote), which writes it as the path other "
                        f"systems reach it at")
    path: str = transport._ref_to_wire(obj)
    return path


def ref_from_path(path: Any) -> Any:
    """The ref of the current transport's system for the wire path `path`.

    Raises:
        ValueError: `path` is not a str, or no transport is in context.
    """
    if type(path) is not str:
        raise ValueError(f"an actor ref must be encoded as a path string, not "
                         f"{type(path).__name__}")
    transport = current_transport.get()
    if transport is None:
        raise ValueError(f"the message holds the actor ref {path!r}, which can only be decoded "
                         f"by remoting (atomr.remote), for the system receiving it")
    return transport._ref_from_wire(path)


# -- msgpack -------------------------------------------------------------------------


def msgpack_default(obj: Any) -> Any:
    """msgpack's ``default`` hook: a ref becomes an ExtType."""
    if isinstance(obj, _ref_types):
        import msgpack  # noqa: PLC0415 - loaded by the caller already

        return msgpack.ExtType(MSGPACK_EXT, ref_to_path(obj).encode("utf-8"))
    raise TypeError(f"can not serialize {type(obj).__name__!r} object")


def msgpack_ext_hook(code: int, data: bytes) -> Any:
    """msgpack's ``ext_hook``: the ref ExtType becomes a ref."""
    if code == MSGPACK_EXT:
        return ref_from_path(data.decode("utf-8"))
    import msgpack  # noqa: PLC0415 - loaded by the caller already

    return msgpack.ExtType(code, data)


# -- JSON ------------------------------------------------------------------------------


def json_default(obj: Any) -> Any:
    """``json.dumps``' ``default`` hook: a ref becomes ``{"$atomr.ref": path}``."""
    if isinstance(obj, _ref_types):
        return {JSON_KEY: ref_to_path(obj)}
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def json_revive(value: Any) -> Any:
    """`value` (decoded JSON) with every ``{"$atomr.ref": path}`` object
    replaced by its ref."""
    t = type(value)
    if t is dict:
        if len(value) == 1 and JSON_KEY in value:
            return ref_from_path(value[JSON_KEY])
        return {k: json_revive(v) for k, v in value.items()}
    if t is list:
        return [json_revive(v) for v in value]
    return value


# -- msgspec ----------------------------------------------------------------------------


def msgspec_enc_hook(obj: Any) -> Any:
    """msgspec's ``enc_hook``: a ref becomes its path."""
    if isinstance(obj, _ref_types):
        return ref_to_path(obj)
    raise NotImplementedError(f"objects of type {type(obj).__name__} are not supported")


def msgspec_dec_hook(hint: Any, obj: Any) -> Any:
    """msgspec's ``dec_hook``: a path in a field annotated with a ref type
    becomes a ref."""
    if is_ref_type(hint):
        return ref_from_path(obj)
    raise NotImplementedError(f"objects of type {hint!r} are not supported")
