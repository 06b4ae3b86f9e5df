"""The public API is documented, and docs/reference/ is generated from it."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import subprocess
import sys
import types
from typing import Any, Iterator, Optional

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The pure-Python modules whose `__all__` is the public API (atomr/_native
# is documented in its .pyx files and is not checked here).
PURE_MODULES = (
    "atomr",
    "atomr._props",
    "atomr.actor",
    "atomr.cluster.events",
    "atomr.cluster.sbr",
    "atomr.codecs",
    "atomr.config",
    "atomr.core",
    "atomr.ddata",
    "atomr.ddata_lmdb",
    "atomr.errors",
    "atomr.event_stream",
    "atomr.pattern",
    "atomr.persistence",
    "atomr.remote",
    "atomr.routing",
    "atomr.supervision",
    "atomr.system",
    "atomr.testkit",
    "atomr.testkit._kit",
    "atomr.testkit._multinode",
    "atomr.testkit._plugin",
    "atomr.testkit._probe",
)


def _exported(module: types.ModuleType) -> Iterator[tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    if names is None:  # no __all__: the public names the module defines
        names = [n for n, obj in vars(module).items()
                 if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__]
    for name in names:
        yield name, getattr(module, name)


def _is_native(obj: Any) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("atomr._native")


def _is_pure_atomr_class(cls: type) -> bool:
    module = getattr(cls, "__module__", None) or ""
    return module.split(".")[0] == "atomr" and not _is_native(cls)


def _is_type_alias(obj: Any) -> bool:
    return isinstance(obj, types.GenericAlias) or type(obj).__module__ in ("typing",
                                                                          "collections.abc")


def _is_member(cls: type, name: str, raw: Any) -> bool:
    """A method (of any flavour) or a property; not data, slots or classes."""
    if isinstance(raw, (staticmethod, classmethod, property)):
        return True
    if type(raw).__name__ == "member_descriptor" or inspect.isclass(raw):
        return False
    if inspect.isroutine(raw):
        return True
    return hasattr(type(raw), "__get__") and callable(getattr(cls, name, None))


def _member_doc(cls: type, name: str) -> Optional[str]:
    """The member's docstring, or the one of the definition it overrides."""
    for owner in cls.__mro__:
        if name in vars(owner):
            raw = vars(owner)[name]
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            doc = getattr(raw, "__doc__", None)
            if isinstance(doc, str) and doc.strip():
                return doc
    return None


def _class_doc(cls: type) -> Optional[str]:
    doc = vars(cls).get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    # dataclasses and NamedTuples make up "Name(field, ...)" when undocumented
    if re.fullmatch(re.escape(cls.__name__) + r"\(.*\)", doc.strip(), re.S):
        return None
    return doc


def documentable() -> dict[str, Optional[str]]:
    """Qualified name -> docstring (None when missing) of every public class,
    function, method and property reachable through the modules' ``__all__``."""
    found: dict[str, Optional[str]] = {}
    for modname in PURE_MODULES:
        module = importlib.import_module(modname)
        for name, obj in _exported(module):
            if isinstance(obj, types.ModuleType) or _is_native(obj) or _is_type_alias(obj):
                continue
            if inspect.isclass(obj):
                where = f"{obj.__module__}.{obj.__qualname__}"
                found[where] = _class_doc(obj)
                for owner in obj.__mro__:
                    if owner is not obj and not _is_pure_atomr_class(owner):
                        continue
                    for member, raw in vars(owner).items():
                        if not member.startswith("_") and _is_member(obj, member, raw):
                            found.setdefault(f"{where}.{member}", _member_doc(obj, member))
            elif callable(obj):
                module_name = getattr(obj, "__module__", None) or modname
                doc = getattr(obj, "__doc__", None)
                found[f"{module_name}.{name}"] = doc if isinstance(doc, str) and doc.strip() \
                    else None
    return found


def test_every_public_name_of_the_pure_python_modules_has_a_docstring():
    missing = sorted(name for name, doc in documentable().items() if doc is None)
    assert not missing, "public API without a docstring:\n  " + "\n  ".join(missing)


def test_docstring_check_sees_methods_properties_and_private_base_members():
    names = documentable()
    for expected in ("atomr.system.ActorSystem.actor_of",        # method
                     "atomr.system.ActorSystem.is_terminated",   # property
                     "atomr.ddata.LWWMap.contains",              # from the private _MapBase
                     "atomr.ddata.Replicator.get",               # custom descriptor
                     "atomr.persistence.Effect.kind",            # property(lambda ...)
                     "atomr.routing.round_robin_group",          # function
                     "atomr.testkit._plugin.testkit"):           # pytest fixture
        assert expected in names, expected
    assert len(names) > 400, len(names)


def test_committed_api_reference_matches_the_docstrings():
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_reference.py"), "--check"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
