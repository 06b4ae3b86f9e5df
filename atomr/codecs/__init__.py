"""The codec registry: how user messages become bytes and back.

A message crossing a process boundary is identified by its *manifest*, the
string ``"<module>.<qualname>"`` of its class (see :func:`manifest_of`), or
the stable name the class was given with :func:`manifest`. A
:class:`PyCodecRegistry` maps manifests to codecs, each an ``encoder(obj) ->
bytes`` and ``decoder(bytes) -> obj`` pair with a name. A registry may also
hold a *default* codec, used for every manifest that has no explicit one.

Security rules:

* The receiving side always decodes with a codec from its **own** registry,
  chosen by the manifest; a peer can never pick the decoder.
* pickle is never a default or a fallback. It is only available through
  :meth:`PyCodecRegistry.register_pickle`, an explicit per-manifest opt-in that
  warns, because unpickling data from an untrusted peer can run arbitrary code.

JSON is built in; msgpack is built in as well (it needs the ``msgpack``
package, imported on first use). Typed classes have codecs of their own:
:meth:`PyCodecRegistry.register_dataclass` (built in, driven by the field
annotations), :meth:`~PyCodecRegistry.register_msgspec` and
:meth:`~PyCodecRegistry.register_pydantic` (when those packages are
installed). Data stored under an old manifest stays readable through
:meth:`PyCodecRegistry.register_alias`. :func:`new_system_registry` builds the
registry an actor system starts with: msgpack for the plain builtin types.

The module-level functions :func:`register_codec`, :func:`use_json_codec` and
:func:`codec_roundtrip` implement the ``ActorSystem`` methods of the same
names; they take the system's registry as their first argument.
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Optional

from atomr.codecs import _refs
from atomr.errors import AtomrError

__all__ = [
    "Encoder",
    "Decoder",
    "manifest_of",
    "class_manifest",
    "manifest",
    "UnstableManifestWarning",
    "validate_manifest",
    "PyCodecRegistry",
    "BuiltinJsonCodec",
    "register_codec",
    "use_json_codec",
    "codec_roundtrip",
    "new_system_registry",
    "SYSTEM_MSGPACK_MANIFESTS",
]

#: ``encoder(obj) -> bytes`` (``bytearray``/``memoryview`` results are accepted).
Encoder = Callable[[Any], Any]
#: ``decoder(blob: bytes) -> obj``.
Decoder = Callable[[bytes], Any]

#: Manifests that :func:`new_system_registry` maps to the msgpack codec.
SYSTEM_MSGPACK_MANIFESTS: tuple[str, ...] = (
    "builtins.bool",
    "builtins.bytes",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.NoneType",
    "builtins.str",
    "builtins.tuple",
)

# Builtin types whose qualname is not an attribute of the ``builtins`` module,
# so attribute lookup alone cannot resolve their manifests.
_UNNAMED_BUILTIN_TYPES: dict[str, type] = {
    "NoneType": type(None),
    "ellipsis": type(Ellipsis),
    "NotImplementedType": type(NotImplemented),
}


# -- warnings ---------------------------------------------------------------


def _is_atomr_frame(frame: types.FrameType) -> bool:
    module = frame.f_globals.get("__name__", "")
    return isinstance(module, str) and (module == "atomr" or module.startswith("atomr."))


def _warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warns, attributing the warning to the first caller outside atomr.

    This keeps the reported location on the user's line whether the user
    called this module directly or through an ``ActorSystem`` wrapper.
    """
    frame: Optional[types.FrameType] = sys._getframe(0)
    level = 1
    while frame is not None and _is_atomr_frame(frame):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


# -- manifests ----------------------------------------------------------------


class UnstableManifestWarning(UserWarning):
    """A manifest names a class of ``__main__``: the script that ran.

    Such a manifest is only valid while the class is defined by a script run
    as the program; the same class imported from its module elsewhere (a
    test, another process, the script imported as a module) has another
    manifest, and cannot decode what was stored under this one. Give the
    class a stable name with :func:`manifest`. Emitted once per manifest.
    """


# Classes named with @manifest: stable name -> class (the latest definition).
_NAMED: dict[str, type] = {}
_NAMED_LOCK = threading.Lock()
_warned_unstable: set[str] = set()


def _unstable_hint(manifest: str) -> str:
    qualname = manifest[len("__main__."):]
    return (f"manifest `{manifest}` names a class of the script run as `__main__`; the same "
            f"class imported from its module has another manifest and cannot decode it. "
            f"Give it a stable name with @atomr.codecs.manifest(\"myapp.{qualname}\"), and "
            f"read data already stored under `{manifest}` with "
            f"codecs.register_alias(\"{manifest}\", \"myapp.{qualname}\")")


def _warn_if_unstable(manifest: str) -> None:
    if manifest.startswith("__main__.") and manifest not in _warned_unstable:
        _warned_unstable.add(manifest)
        _warn(_unstable_hint(manifest), UnstableManifestWarning)


def class_manifest(cls: type) -> str:
    """Returns the manifest of instances of `cls` (see :func:`manifest_of`).

    Raises:
        TypeError: `cls` is not a class, or its ``__atomr_manifest__`` is not
            a str.
    """
    if not isinstance(cls, type):
        raise TypeError(f"class_manifest() needs a class, not {type(cls).__name__}")
    named = cls.__dict__.get("__atomr_manifest__")
    if named is None:
        return f"{cls.__module__}.{cls.__qualname__}"
    if type(named) is not str:
        raise TypeError(f"{cls.__qualname__}.__atomr_manifest__ must be a str, not "
                        f"{type(named).__name__}")
    return named


def manifest_of(obj: Any) -> str:
    """Returns the manifest of `obj`: its class's stable name or ``module.qualname``.

    A class names its own manifest with a ``__atomr_manifest__`` str
    attribute (set it directly or with the :func:`manifest` decorator); it
    applies to that class only, not to its subclasses. Other classes have
    ``module.qualname``.

    Args:
        obj: Any object.

    Returns:
        The class's ``__atomr_manifest__`` if it defines one, else
        ``type(obj).__module__ + "." + type(obj).__qualname__``; for example
        ``"builtins.dict"`` for a dict, ``"myapp.Outer.Inner"`` for an
        instance of a nested class.

    Raises:
        TypeError: the class's ``__atomr_manifest__`` is not a str.
    """
    cls = type(obj)
    named = cls.__dict__.get("__atomr_manifest__")
    if named is None:
        return f"{cls.__module__}.{cls.__qualname__}"
    if type(named) is not str:
        raise TypeError(f"{cls.__qualname__}.__atomr_manifest__ must be a str, not "
                        f"{type(named).__name__}")
    return named


def manifest(name: str) -> Callable[[type], type]:
    """Class decorator: gives a class the stable manifest `name`.

    Instances of the class are stored and sent under `name` instead of
    ``module.qualname``, so the manifest stays the same wherever the class
    is defined or imported from (a script run as ``__main__``, its module,
    a test) and when it moves or is renamed.

    Example::

        @atomr.codecs.manifest("bank.Deposited")
        @dataclasses.dataclass
        class Deposited:
            amount: int

    The name must look like a manifest (dotted, no empty segment) and may
    name one class only; defining the same class again (the script also
    imported as a module, a reload) is allowed. Strict validation
    (:func:`validate_manifest`) accepts a name given this way without
    importing it. Subclasses do not inherit it.

    Args:
        name: The stable manifest, e.g. ``"bank.Deposited"``.

    Returns:
        The decorator; it sets ``cls.__atomr_manifest__ = name`` and
        returns `cls`.

    Raises:
        ValueError: `name` is not of the form ``a.b``, or already names a
            class with another qualname.
    """
    _check_manifest_shape(name)
    if name.startswith("__main__."):
        raise ValueError(f"manifest name `{name}` starts with `__main__`: choose a name that "
                         f"does not depend on how the program was started")

    def decorate(cls: type) -> type:
        if not isinstance(cls, type):
            raise TypeError(f"@manifest({name!r}) decorates classes, not "
                            f"{type(cls).__name__}")
        with _NAMED_LOCK:
            existing = _NAMED.get(name)
            if existing is not None and existing is not cls \
                    and existing.__qualname__ != cls.__qualname__:
                raise ValueError(f"manifest `{name}` already names class "
                                 f"`{existing.__module__}.{existing.__qualname__}`; "
                                 f"give `{cls.__module__}.{cls.__qualname__}` another name")
            cls.__atomr_manifest__ = name  # type: ignore[attr-defined]
            _NAMED[name] = cls
        return cls

    return decorate


def _check_manifest_shape(manifest: Any) -> str:
    if not isinstance(manifest, str):
        raise ValueError(f"a manifest must be a `module.qualname` str, not "
                         f"{type(manifest).__name__} {manifest!r}")
    if "." not in manifest:
        raise ValueError(f"manifest `{manifest}` is not of the form `module.qualname` "
                         f"(it has no dot)")
    if any(not part for part in manifest.split(".")):
        raise ValueError(f"manifest `{manifest}` is not of the form `module.qualname` "
                         f"(it has an empty segment)")
    return manifest


def _resolve_strict(manifest: str) -> None:
    parts = manifest.split(".")
    # Longest importable module prefix first: `pkg.mod.Outer.Inner` tries
    # `pkg.mod.Outer`, then `pkg.mod`, then `pkg`; the rest is a qualname.
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing and not (module_name == missing
                                or module_name.startswith(missing + ".")):
                # The module exists, but one of its own imports is missing.
                raise ValueError(f"manifest `{manifest}`: importing module `{module_name}` "
                                 f"failed: {exc}") from exc
            continue
        except Exception as exc:  # the module exists but raised while importing
            raise ValueError(f"manifest `{manifest}`: importing module `{module_name}` "
                             f"failed: {exc!r}") from exc
        qualname = parts[split:]
        if module_name == "builtins" and len(qualname) == 1 \
                and qualname[0] in _UNNAMED_BUILTIN_TYPES:
            return
        for segment in qualname:
            try:
                target = getattr(target, segment)
            except AttributeError:
                raise ValueError(f"manifest `{manifest}`: module `{module_name}` has no "
                                 f"attribute path `{'.'.join(qualname)}` (`{segment}` not "
                                 f"found)") from None
        return
    raise ValueError(f"manifest `{manifest}`: no importable module found "
                     f"(tried `{parts[0]}` and longer prefixes)")


def validate_manifest(manifest: str, strict: bool = True) -> None:
    """Checks that `manifest` names a class, as :func:`manifest_of` would produce.

    In strict mode a name given to a class with :func:`manifest` is
    accepted as it is; otherwise the module part is imported and each
    qualname segment is resolved with ``getattr``. Because qualnames may be nested
    (``pkg.mod.Outer.Inner``), the longest importable dotted prefix is taken as
    the module. Importing runs the module's top-level code, as any import does.

    In lax mode only the shape is checked and a warning is emitted; use it for
    classes that cannot be imported by name (``__main__``-scoped scripts run
    elsewhere, classes defined inside functions).

    Args:
        manifest: A ``"module.qualname"`` string.
        strict: Whether to resolve the manifest by importing it.

    Raises:
        ValueError: `manifest` is not a str, has no dot or an empty segment, or
            (strict mode) does not resolve to an importable attribute.
    """
    _check_manifest_shape(manifest)
    if strict:
        if manifest not in _NAMED:
            _resolve_strict(manifest)
    else:
        _warn(f"codec manifest `{manifest}` is not strictly validated (strict=False): "
              f"nothing checks that it names an importable class")


# -- built-in codecs ----------------------------------------------------------


def _json_encode(obj: Any) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":")).encode("utf-8")
    except TypeError:  # perhaps actor refs (atomr.codecs._refs): retry with the hook
        return json.dumps(obj, separators=(",", ":"), default=_refs.json_default).encode("utf-8")


def _no_fast_json(blob: bytes) -> Any:
    raise ValueError("no fast JSON decoder")


def _resolve_fast_json() -> Callable[[bytes], Any]:
    """msgspec's JSON decoder when msgspec is installed (imported on first use)."""
    global _fast_json_loads
    try:
        import msgspec  # noqa: PLC0415 - optional, deliberately lazy
    except ImportError:
        _fast_json_loads = _no_fast_json
    else:
        _fast_json_loads = msgspec.json.decode
    return _fast_json_loads


_fast_json_loads: Optional[Callable[[bytes], Any]] = None


def _json_decode(blob: bytes) -> Any:
    # msgspec, when installed, parses about ten times faster. It accepts a
    # subset of what json.loads accepts and decodes it to equal values, so
    # whatever it refuses (NaN, Infinity, lone surrogates, bad input) goes
    # to json.loads, which then decodes it or raises its own error.
    # Actor refs inside (atomr.codecs._refs)? An int `in` is a memchr, much
    # cheaper than a bytes `in`; most JSON has no "$" at all.
    if 36 in blob and _refs.JSON_MARK in blob:  # 36: b"$"
        return _refs.json_revive(_json_parse(blob))
    return _json_parse(blob)


def _json_parse(blob: bytes) -> Any:
    fast = _fast_json_loads or _resolve_fast_json()
    if fast is not _no_fast_json:
        try:
            return fast(blob)
        except Exception:  # noqa: BLE001, S110 - json.loads decides, below
            pass
    return json.loads(blob.decode("utf-8"))


def _load_msgpack() -> types.ModuleType:
    try:
        import msgpack  # noqa: PLC0415 - deliberately lazy
    except ImportError as exc:
        raise AtomrError("the msgpack codec needs the `msgpack` package, which is not "
                         "installed (pip install msgpack)") from exc
    return msgpack


class _PackerSlot(threading.local):
    """This thread's idle msgpack packer (None while one is in use)."""

    packer: Any = None


_packer_slot = _PackerSlot()
_modules = sys.modules
_unpackb: Any = None


def _msgpack_encode(obj: Any) -> bytes:
    # A packer per thread, reused: making one per call costs more than the
    # packing of a small message. Taken out of the slot while it packs, so
    # a nested call on this thread (a dict subclass's items()) makes its own;
    # a packer whose pack raised is not put back.
    # The output is packb(obj, use_bin_type=True)'s.
    slot = _packer_slot
    packer = slot.packer
    if packer is None or _modules.get("msgpack") is None:  # (gone: the import's error)
        packer = _load_msgpack().Packer(use_bin_type=True)
    slot.packer = None
    try:
        out = packer.pack(obj)
    except TypeError:  # perhaps actor refs (atomr.codecs._refs): retry with the hook
        return _load_msgpack().packb(obj, use_bin_type=True, default=_refs.msgpack_default)
    slot.packer = packer
    return out


def _msgpack_decode(blob: bytes) -> Any:
    global _unpackb
    unpackb = _unpackb
    if unpackb is None or _modules.get("msgpack") is None:
        unpackb = _unpackb = _load_msgpack().unpackb
    return unpackb(blob, raw=False, ext_hook=_refs.msgpack_ext_hook)


def _msgpack_decode_tuple(blob: bytes) -> Any:
    value = _msgpack_decode(blob)
    return tuple(value) if isinstance(value, list) else value


def _pickle_encode(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_decode(blob: bytes) -> Any:
    return pickle.loads(blob)  # noqa: S301 - explicit, per-manifest opt-in only


_PICKLE_DECODERS: tuple[Any, ...] = (pickle.loads, _pickle_decode)


# -- registry -----------------------------------------------------------------


class _Codec(NamedTuple):
    name: str
    encoder: Encoder
    decoder: Decoder


class _State(NamedTuple):
    """An immutable snapshot of a registry; replaced wholesale on mutation."""

    codecs: Mapping[str, _Codec]
    default: Optional[_Codec]
    aliases: Mapping[str, str]


_EMPTY_STATE = _State(types.MappingProxyType({}), None, types.MappingProxyType({}))


def _manifest_list(manifests: Any, allow_empty: bool = False) -> list[str]:
    if isinstance(manifests, (str, bytes)) or not isinstance(manifests, Iterable):
        raise TypeError(f"manifests must be a list of str, not {type(manifests).__name__} "
                        f"{manifests!r}")
    result: list[str] = []
    for manifest in manifests:
        if not isinstance(manifest, str):
            raise TypeError(f"each manifest must be a str, not {type(manifest).__name__} "
                            f"{manifest!r}")
        if not manifest:
            raise ValueError("a manifest must not be empty")
        if manifest not in result:
            result.append(manifest)
            if manifest.startswith("__main__."):
                _warn_if_unstable(manifest)
    if not result and not allow_empty:
        raise ValueError("manifests must not be empty: list at least one `module.qualname`")
    return result


def _check_codec_args(name: Any, encoder: Any, decoder: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"codec name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("codec name must not be empty")
    if not callable(encoder):
        raise TypeError(f"encoder of codec `{name}` must be callable, not "
                        f"{type(encoder).__name__}")
    if not callable(decoder):
        raise TypeError(f"decoder of codec `{name}` must be callable, not "
                        f"{type(decoder).__name__}")


def _is_dataclass_instance(obj: Any) -> bool:
    return hasattr(type(obj), "__dataclass_fields__")


# The manifests of the built-in types (which cannot carry
# ``__atomr_manifest__``), looked up by exact type on the hot path.
_BUILTIN_MANIFESTS: dict[type, str] = {
    t: f"{t.__module__}.{t.__qualname__}"
    for t in (bool, bytes, dict, float, int, list, type(None), str, tuple)
}


def _as_bytes(value: Any) -> Optional[bytes]:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


class PyCodecRegistry:
    """Maps manifests to codecs, with an optional default for the rest.

    ``register*`` methods do not validate manifests (see
    :func:`register_codec` for the validating variant). Registrations are
    all-or-nothing: on any error the registry is left unchanged.

    The registry is thread-safe. Mutations are serialised by a lock and
    publish a fresh immutable snapshot; lookups read the current snapshot
    without locking, so ``encode``/``decode`` never block on a registration.

    Example::

        registry = PyCodecRegistry()
        registry.register_json(["myapp.Greeting"])
        blob = registry.encode("myapp.Greeting", {"text": "hi"})
    """

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        """Creates an empty registry (no codecs, no default)."""
        self._lock = threading.Lock()
        self._state: _State = _EMPTY_STATE

    # -- registration ---------------------------------------------------------

    def _check_free(self, manifests: Iterable[str], force: bool) -> None:
        if force:
            return
        codecs = self._state.codecs
        aliases = self._state.aliases
        for manifest in manifests:
            existing = codecs.get(manifest)
            if existing is not None:
                raise ValueError(f"manifest `{manifest}` already has codec `{existing.name}` "
                                 f"registered; pass force=True to replace it")
            if manifest in aliases:
                raise ValueError(f"manifest `{manifest}` is an alias of `{aliases[manifest]}`; "
                                 f"pass force=True to replace it")

    def _prepare(self, name: Any, encoder: Any, decoder: Any, manifests: Any,
                 force: bool) -> list[str]:
        """Checks every argument of a registration without mutating anything."""
        _check_codec_args(name, encoder, decoder)
        manifest_list = _manifest_list(manifests)
        self._check_free(manifest_list, force)
        return manifest_list

    def _commit(self, codec: _Codec, manifests: list[str], force: bool) -> None:
        with self._lock:
            self._check_free(manifests, force)  # again: another thread may have won
            codecs = dict(self._state.codecs)
            aliases = self._state.aliases
            for manifest in manifests:
                codecs[manifest] = codec
            if any(m in aliases for m in manifests):
                aliases = types.MappingProxyType({a: t for a, t in aliases.items()
                                                  if a not in manifests})
                self._state = self._state._replace(aliases=aliases)
            self._state = self._state._replace(codecs=types.MappingProxyType(codecs))

    def register(self, name: str, encoder: Encoder, decoder: Decoder,
                 manifests: Iterable[str], force: bool = False) -> None:
        """Registers a codec for one or more manifests.

        Manifests are not validated (use :func:`register_codec` for that).

        Args:
            name: The codec's name, e.g. ``"json"``; several manifests may
                share one name.
            encoder: ``encoder(obj) -> bytes``.
            decoder: ``decoder(blob: bytes) -> obj``.
            manifests: Non-empty list of ``"module.qualname"`` strings.
            force: Replace existing registrations of these manifests.

        Raises:
            ValueError: `manifests` is empty, or one of them is already
                registered and `force` is false.
            TypeError: `encoder` or `decoder` is not callable, `name` is not a
                str, or `manifests` is not a list of str.
        """
        manifest_list = self._prepare(name, encoder, decoder, manifests, force)
        self._commit(_Codec(name, encoder, decoder), manifest_list, force)

    def register_json(self, manifests: Iterable[str], force: bool = False) -> None:
        """Registers the built-in UTF-8 JSON codec (name ``"json"``).

        Encoding is ``json.dumps`` with compact separators; decoding is
        ``json.loads``. JSON turns tuples into lists and non-str dict keys
        into strings.

        Args:
            manifests: Non-empty list of manifests.
            force: Replace existing registrations of these manifests.

        Raises:
            ValueError: As for :meth:`register`.
        """
        self.register("json", _json_encode, _json_decode, manifests, force)

    def register_msgpack(self, manifests: Iterable[str], force: bool = False) -> None:
        """Registers the built-in msgpack codec (name ``"msgpack"``).

        Packs with ``use_bin_type=True`` and unpacks with ``raw=False``, so
        ``str`` and ``bytes`` stay distinct. Tuples come back as lists; ints
        must fit in 64 bits; decoded map keys must be str or bytes (msgpack's
        ``strict_map_key`` protection).

        Args:
            manifests: Non-empty list of manifests.
            force: Replace existing registrations of these manifests.

        Raises:
            AtomrError: the ``msgpack`` package is not installed.
            ValueError: As for :meth:`register`.
        """
        manifest_list = self._prepare("msgpack", _msgpack_encode, _msgpack_decode,
                                      manifests, force)
        _load_msgpack()
        self._commit(_Codec("msgpack", _msgpack_encode, _msgpack_decode), manifest_list, force)

    def _register_classes(self, name: str, classes: list[type],
                          codec_of: Callable[[type], tuple[Encoder, Decoder]],
                          force: bool) -> None:
        """Registers one codec per class, under the class's manifest; all or
        nothing."""
        built = [(class_manifest(cls), codec_of(cls)) for cls in classes]
        manifest_list = _manifest_list([m for m, _ in built])
        if len(manifest_list) != len(built):
            raise ValueError(f"two of the classes have the same manifest: "
                             f"{[m for m, _ in built]}")
        self._check_free(manifest_list, force)
        with self._lock:
            self._check_free(manifest_list, force)
            codecs = dict(self._state.codecs)
            for m, (encoder, decoder) in built:
                codecs[m] = _Codec(name, encoder, decoder)
            aliases = self._state.aliases
            if any(m in aliases for m in manifest_list):
                aliases = types.MappingProxyType({a: t for a, t in aliases.items()
                                                  if a not in manifest_list})
            self._state = self._state._replace(codecs=types.MappingProxyType(codecs),
                                               aliases=aliases)

    def register_dataclass(self, classes: Any, force: bool = False) -> None:
        """Registers the dataclass codec (name ``"dataclass"``) for each class.

        Each class is stored under its manifest (:func:`class_manifest`;
        give it a stable one with :func:`manifest`) as compact UTF-8 JSON,
        driven by its field annotations: nested dataclasses, enums,
        datetime/date/time, timedelta, bytes, Decimal, UUID, lists, tuples,
        sets, dicts and ``Optional``/unions of them decode back to the
        annotated types. Nested dataclasses need no registration of their
        own. Decoding ignores unknown keys and lets missing ones take their
        field defaults, so adding a field with a default keeps old events
        readable.

        Example::

            system.codecs.register_dataclass([Deposited, Withdrawn])

        Args:
            classes: A dataclass, or a list of them.
            force: Replace existing registrations of these manifests.

        Raises:
            TypeError: a class is not a dataclass, or one of its fields has
                an annotation the codec cannot handle (the message names
                the field and the supported types).
            ValueError: a manifest is already registered and `force` is
                false.
        """
        from atomr.codecs._typed import classes_of, dataclass_codec  # noqa: PLC0415

        self._register_classes("dataclass", classes_of(classes, "register_dataclass()"),
                               dataclass_codec, force)

    def register_msgspec(self, classes: Any, format: str = "json",  # noqa: A002
                         force: bool = False) -> None:
        """Registers msgspec's codec (name ``"msgspec-json"`` or
        ``"msgspec-msgpack"``) for each class: a ``msgspec.Struct``, a
        dataclass or an attrs class. Decoding validates the data against the
        class.

        Args:
            classes: A class, or a list of them.
            format: ``"json"`` or ``"msgpack"``.
            force: Replace existing registrations of these manifests.

        Raises:
            AtomrError: the ``msgspec`` package is not installed.
            TypeError: msgspec cannot decode a class.
            ValueError: bad `format`, or a manifest is already registered
                and `force` is false.
        """
        from atomr.codecs._typed import classes_of, msgspec_codec  # noqa: PLC0415

        class_list = classes_of(classes, "register_msgspec()")
        self._register_classes(f"msgspec-{format}", class_list,
                               lambda cls: msgspec_codec(cls, format), force)

    def register_pydantic(self, classes: Any, force: bool = False) -> None:
        """Registers pydantic's JSON codec (name ``"pydantic"``) for each
        model class: ``model.model_dump_json()`` out, validated
        ``Model.model_validate_json()`` in (through a ``TypeAdapter``).

        Args:
            classes: A ``pydantic.BaseModel`` subclass, or a list of them.
            force: Replace existing registrations of these manifests.

        Raises:
            AtomrError: pydantic 2 is not installed.
            TypeError: a class is not a pydantic model.
            ValueError: a manifest is already registered and `force` is
                false.
        """
        from atomr.codecs._typed import classes_of, pydantic_codec  # noqa: PLC0415

        self._register_classes("pydantic", classes_of(classes, "register_pydantic()"),
                               pydantic_codec, force)

    def register_pickle(self, manifests: Iterable[str], force: bool = False) -> None:
        """Opts the listed manifests into the pickle codec (name ``"pickle"``).

        Unpickling runs code chosen by whoever produced the bytes: only use
        this between systems that fully trust each other. A ``UserWarning``
        says so on every call. pickle is never installed as a default.

        Args:
            manifests: Non-empty list of manifests.
            force: Replace existing registrations of these manifests.

        Raises:
            ValueError: As for :meth:`register`.
        """
        manifest_list = self._prepare("pickle", _pickle_encode, _pickle_decode,
                                      manifests, force)
        _warn(f"pickle codec enabled for {', '.join(f'`{m}`' for m in manifest_list)}: "
              f"pickle is unsafe for untrusted peers (decoding a crafted payload can run "
              f"arbitrary code); use it only between trusted systems")
        self._commit(_Codec("pickle", _pickle_encode, _pickle_decode), manifest_list, force)

    def register_alias(self, alias: str, manifest: str, force: bool = False) -> None:
        """Decodes (and encodes) `alias` with the codec of `manifest`.

        For data stored under an older manifest -- a class that moved, was
        renamed, or was defined in a script (``__main__.X``) before it got a
        stable name with :func:`manifest`. Lookups of `alias` follow
        `manifest`'s registration, also when it is replaced later.

        Args:
            alias: The old manifest, e.g. ``"__main__.Deposited"``.
            manifest: An explicitly registered manifest, e.g.
                ``"bank.Deposited"``.
            force: Replace an existing registration or alias of `alias`.

        Raises:
            ValueError: `manifest` has no codec registered, `alias` equals
                `manifest`, or `alias` is already registered or an alias and
                `force` is false.
            TypeError: `alias` or `manifest` is not a str.
        """
        for value, what in ((alias, "alias"), (manifest, "manifest")):
            if not isinstance(value, str):
                raise TypeError(f"{what} must be a str, not {type(value).__name__}")
            if not value:
                raise ValueError(f"{what} must not be empty")
        if alias == manifest:
            raise ValueError(f"manifest `{manifest}` cannot be an alias of itself")
        with self._lock:
            state = self._state
            self._check_free([alias], force)
            if manifest not in state.codecs:
                raise ValueError(f"manifest `{manifest}` has no codec registered: register one "
                                 f"before aliasing `{alias}` to it")
            codecs = state.codecs
            if alias in codecs:
                codecs = types.MappingProxyType({m: c for m, c in codecs.items() if m != alias})
            aliases = dict(state.aliases)
            aliases[alias] = manifest
            self._state = state._replace(codecs=codecs,
                                         aliases=types.MappingProxyType(aliases))

    def aliases(self) -> dict[str, str]:
        """Returns the aliases (alias -> manifest) made with :meth:`register_alias`."""
        return dict(self._state.aliases)

    def set_default(self, encoder: Encoder, decoder: Decoder, name: str = "default") -> None:
        """Installs the fallback codec for every manifest without its own.

        Replaces any previous default.

        Args:
            encoder: ``encoder(obj) -> bytes``.
            decoder: ``decoder(blob: bytes) -> obj``.
            name: The codec's name, reported by :meth:`codec_for` and in errors.

        Raises:
            TypeError: `encoder` or `decoder` is not callable.
            ValueError: `decoder` is pickle's; pickle may only be enabled per
                manifest with :meth:`register_pickle`.
        """
        _check_codec_args(name, encoder, decoder)
        if any(decoder is d for d in _PICKLE_DECODERS):
            raise ValueError("pickle cannot be a default codec: enable it per manifest with "
                             "register_pickle(), and only between trusted systems")
        with self._lock:
            self._state = self._state._replace(default=_Codec(name, encoder, decoder))

    def use_json_default(self) -> None:
        """Installs the built-in JSON codec (name ``"json"``) as the default."""
        self.set_default(_json_encode, _json_decode, name="json")

    def clear_default(self) -> None:
        """Removes the default codec; unregistered manifests fail again."""
        with self._lock:
            self._state = self._state._replace(default=None)

    # -- lookup -----------------------------------------------------------------

    def _lookup(self, manifest: Any) -> _Codec:
        if not isinstance(manifest, str):
            raise TypeError(f"manifest must be a str, not {type(manifest).__name__}")
        state = self._state
        codec = state.codecs.get(manifest)
        if codec is None:
            target = state.aliases.get(manifest)
            codec = state.default if target is None else state.codecs.get(target, state.default)
            if codec is None:
                hint = f"; {_unstable_hint(manifest)}" if manifest.startswith("__main__.") \
                    else ""
                raise AtomrError(f"no codec registered for manifest `{manifest}`{hint}")
        return codec

    @staticmethod
    def _encode_with(codec: _Codec, manifest: str, obj: Any) -> bytes:
        try:
            result = codec.encoder(obj)
        except Exception as exc:
            hint = ""
            if codec.name in ("json", "msgpack") and _is_dataclass_instance(obj):
                hint = (f"; register the dataclass codec for it: "
                        f"codecs.register_dataclass({type(obj).__qualname__})")
            raise AtomrError(f"codec `{codec.name}` failed to encode manifest `{manifest}`: "
                             f"{type(exc).__name__}: {exc}{hint}") from exc
        blob = _as_bytes(result)
        if blob is None:
            raise AtomrError(f"codec `{codec.name}` returned {type(result).__name__} for "
                             f"manifest `{manifest}`; an encoder must return bytes")
        return blob

    @staticmethod
    def _decode_with(codec: _Codec, manifest: str, blob: Any) -> Any:
        data = _as_bytes(blob)
        if data is None:
            raise TypeError(f"blob must be bytes-like, not {type(blob).__name__}")
        try:
            return codec.decoder(data)
        except Exception as exc:
            raise AtomrError(f"codec `{codec.name}` failed to decode manifest `{manifest}`: "
                             f"{type(exc).__name__}: {exc}") from exc

    def encode(self, manifest: str, obj: Any) -> bytes:
        """Encodes `obj` with the codec for `manifest` (explicit or default).

        Args:
            manifest: The manifest to look up, normally ``manifest_of(obj)``.
            obj: The value to encode.

        Returns:
            The encoded bytes.

        Raises:
            AtomrError: no codec for `manifest` and no default; the encoder
                raised (chained as ``__cause__``); or it returned something
                other than bytes, bytearray or memoryview.
            TypeError: `manifest` is not a str.
        """
        codec = self._lookup(manifest)
        return self._encode_with(codec, manifest, obj)

    def decode(self, manifest: str, blob: bytes) -> Any:
        """Decodes `blob` with the codec for `manifest` (explicit or default).

        Args:
            manifest: The manifest sent with the bytes.
            blob: The encoded bytes (bytearray and memoryview are accepted).

        Returns:
            The decoded value.

        Raises:
            AtomrError: no codec for `manifest` and no default, or the decoder
                raised (chained as ``__cause__``).
            TypeError: `manifest` is not a str or `blob` is not bytes-like.
        """
        codec = self._state.codecs.get(manifest) if type(manifest) is str else None
        if codec is None:
            codec = self._lookup(manifest)
        return self._decode_with(codec, manifest, blob)

    def roundtrip(self, manifest: str, obj: Any) -> Any:
        """Encodes then decodes `obj` with one codec for `manifest`.

        Both steps use the same codec even if the registry changes meanwhile.

        Args:
            manifest: The manifest to look up.
            obj: The value to roundtrip.

        Returns:
            The decoded copy.

        Raises:
            AtomrError: As for :meth:`encode` and :meth:`decode`.
        """
        codec = self._lookup(manifest)
        return self._decode_with(codec, manifest, self._encode_with(codec, manifest, obj))

    def encode_message(self, obj: Any) -> tuple[str, bytes]:
        """Encodes `obj` under its own manifest.

        Args:
            obj: The message.

        Returns:
            ``(manifest_of(obj), encoded bytes)``.

        Warns:
            UnstableManifestWarning: the manifest starts with ``__main__``
                (once per manifest).

        Raises:
            AtomrError: As for :meth:`encode`.
        """
        manifest = _BUILTIN_MANIFESTS.get(type(obj))
        if manifest is None:
            manifest = manifest_of(obj)
            if manifest.startswith("__main__."):
                _warn_if_unstable(manifest)
        codec = self._state.codecs.get(manifest)
        if codec is None:
            codec = self._lookup(manifest)
        return manifest, self._encode_with(codec, manifest, obj)

    def decode_message(self, manifest: str, blob: bytes) -> Any:
        """Decodes a ``(manifest, blob)`` pair made by :meth:`encode_message`.

        Args:
            manifest: The manifest sent with the bytes.
            blob: The encoded bytes.

        Returns:
            The decoded message.

        Raises:
            AtomrError: As for :meth:`decode`.
        """
        return self.decode(manifest, blob)

    # -- introspection --------------------------------------------------------

    def manifests(self) -> list[str]:
        """Returns the explicitly registered manifests, sorted."""
        return sorted(self._state.codecs)

    def names(self) -> list[str]:
        """Returns the distinct names of explicitly registered codecs, sorted.

        The default codec is not included (see :attr:`default_name`).
        """
        return sorted({codec.name for codec in self._state.codecs.values()})

    def codec_for(self, manifest: str) -> Optional[str]:
        """Returns the name of the codec that would handle `manifest`.

        Args:
            manifest: The manifest to look up.

        Returns:
            The explicit codec's name, else the default codec's name, else
            None (encoding `manifest` would fail).
        """
        try:
            return self._lookup(manifest).name
        except AtomrError:
            return None

    @property
    def default_name(self) -> Optional[str]:
        """The default codec's name, or None when there is no default."""
        default = self._state.default
        return None if default is None else default.name

    def __contains__(self, manifest: object) -> bool:
        """True only for explicitly registered manifests (not the default)."""
        return manifest in self._state.codecs

    def __len__(self) -> int:
        """The number of explicitly registered manifests."""
        return len(self._state.codecs)

    def __repr__(self) -> str:
        state = self._state
        default = None if state.default is None else state.default.name
        names = sorted({codec.name for codec in state.codecs.values()})
        return (f"<PyCodecRegistry manifests={len(state.codecs)} codecs={names} "
                f"default={default!r}>")


class BuiltinJsonCodec:
    """The byte-level JSON codec: checks payloads are UTF-8 JSON, passes them on.

    It never converts objects; it guards raw payloads (for example bytes
    arriving from a transport) that claim to be JSON.
    """

    __slots__ = ()

    def id(self) -> str:
        """Returns the codec's identifier, ``"json"``."""
        return "json"

    @staticmethod
    def _check(manifest: str, payload: Any, action: str) -> bytes:
        data = _as_bytes(payload)
        if data is None:
            raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}")
        try:
            json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise AtomrError(f"json codec cannot {action} manifest `{manifest}`: payload is "
                             f"not UTF-8 JSON ({exc})") from exc
        return data

    def encode(self, manifest: str, payload: bytes) -> bytes:
        """Validates an outgoing payload and returns it unchanged.

        Args:
            manifest: The payload's manifest (used in error messages).
            payload: Bytes that must hold one UTF-8 JSON document.

        Returns:
            The same bytes.

        Raises:
            AtomrError: `payload` is not valid UTF-8 JSON.
            TypeError: `payload` is not bytes-like.
        """
        return self._check(manifest, payload, "encode")

    def decode(self, manifest: str, blob: bytes) -> bytes:
        """Validates an incoming payload and returns it unchanged.

        Args:
            manifest: The payload's manifest (used in error messages).
            blob: Bytes that must hold one UTF-8 JSON document.

        Returns:
            The same bytes.

        Raises:
            AtomrError: `blob` is not valid UTF-8 JSON.
            TypeError: `blob` is not bytes-like.
        """
        return self._check(manifest, blob, "decode")

    def __repr__(self) -> str:
        return "<BuiltinJsonCodec id='json'>"


# -- ActorSystem operations -----------------------------------------------------


def register_codec(registry: PyCodecRegistry, name: str, encoder: Encoder, decoder: Decoder,
                   manifests: Iterable[str], force: bool = False, strict: bool = True) -> None:
    """Validates `manifests`, then registers a codec for them in `registry`.

    Implements ``ActorSystem.register_codec``. All checks (arguments,
    collisions, then every manifest's validation) run before the registry is
    touched, so on error nothing changes.

    Args:
        registry: The registry to change (``system.codecs``).
        name: The codec's name.
        encoder: ``encoder(obj) -> bytes``.
        decoder: ``decoder(blob: bytes) -> obj``.
        manifests: Non-empty list of ``"module.qualname"`` strings.
        force: Replace existing registrations of these manifests.
        strict: Import-check each manifest (see :func:`validate_manifest`);
            when false, warn per manifest instead.

    Raises:
        ValueError: `manifests` is empty, a manifest is invalid, or one is
            already registered and `force` is false.
        TypeError: `encoder`/`decoder` not callable or bad argument types.
    """
    manifest_list = registry._prepare(name, encoder, decoder, manifests, force)
    for manifest in manifest_list:
        _check_manifest_shape(manifest)
    for manifest in manifest_list:
        validate_manifest(manifest, strict)
    registry.register(name, encoder, decoder, manifest_list, force)


def use_json_codec(registry: PyCodecRegistry, manifests: Iterable[str] = (),
                   default: bool = False, force: bool = False, strict: bool = True) -> None:
    """Uses the built-in JSON codec for `manifests` and/or as the default.

    Implements ``ActorSystem.use_json_codec``. Listed manifests follow the
    rules of :func:`register_codec`.

    Args:
        registry: The registry to change (``system.codecs``).
        manifests: Manifests to map to JSON; may be empty when `default`.
        default: Also install JSON as the fallback for every manifest without
            an explicit codec (replacing any previous default).
        force: Replace existing registrations of the listed manifests.
        strict: Import-check each listed manifest.

    Raises:
        ValueError: Neither manifests nor `default` given, a manifest is
            invalid, or one is already registered and `force` is false.
    """
    manifest_list = _manifest_list(manifests, allow_empty=True)
    if not manifest_list and not default:
        raise ValueError("use_json_codec() needs manifests, default=True, or both")
    if manifest_list:
        register_codec(registry, "json", _json_encode, _json_decode, manifest_list,
                       force=force, strict=strict)
    if default:
        registry.use_json_default()


def codec_roundtrip(registry: PyCodecRegistry, obj: Any) -> Any:
    """Encodes and decodes `obj` under its own manifest.

    Implements ``ActorSystem.codec_roundtrip``.

    Args:
        registry: The registry to use.
        obj: The message.

    Returns:
        The decoded copy.

    Raises:
        AtomrError: no codec for ``manifest_of(obj)`` (message "no codec
            registered for manifest `...`"), or the codec failed.
    """
    return registry.roundtrip(manifest_of(obj), obj)


def new_system_registry() -> PyCodecRegistry:
    """Builds the registry an actor system starts with.

    msgpack handles :data:`SYSTEM_MSGPACK_MANIFESTS` (the plain builtin
    types). A top-level tuple decodes back to a tuple; tuples nested inside
    other values come back as lists. There is no default codec, and pickle is
    never registered. msgpack is imported on first use, so building the
    registry works even without the package (encoding then raises
    :class:`AtomrError`).

    Returns:
        A fresh, independent registry.
    """
    registry = PyCodecRegistry()
    plain = [m for m in SYSTEM_MSGPACK_MANIFESTS if m != "builtins.tuple"]
    registry._commit(_Codec("msgpack", _msgpack_encode, _msgpack_decode), plain, False)
    registry._commit(_Codec("msgpack", _msgpack_encode, _msgpack_decode_tuple),
                     ["builtins.tuple"], False)
    return registry
