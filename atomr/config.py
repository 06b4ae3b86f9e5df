"""Immutable, tree-shaped configuration."""

from __future__ import annotations

import copy
import tomllib
from typing import Any, Mapping, Optional

from atomr.errors import AtomrError

__all__ = ["Config"]

_SCALARS = (bool, int, float, str)


def _check_tree(value: Any, where: str) -> Any:
    if value is None:
        raise ValueError(f"config value at `{where or '<root>'}` must not be None")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"config keys must be str, got {type(key).__name__} at `{where}`")
            out[key] = _check_tree(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, (list, tuple)):
        return [_check_tree(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(
        f"config value at `{where}` has unsupported type {type(value).__name__} "
        "(use dict, list, bool, int, float or str)")


class Config:
    """A frozen configuration tree, addressed with dotted keys.

    Example:
        >>> cfg = Config.from_toml('[actor]\\nthroughput = 32')
        >>> cfg.get_int("actor.throughput")
        32
    """

    __slots__ = ("_root",)

    def __init__(self, root: Optional[Mapping[str, Any]] = None) -> None:
        self._root = _check_tree(dict(root or {}), "")

    @staticmethod
    def empty() -> "Config":
        """A configuration with no keys."""
        return Config()

    @staticmethod
    def from_toml(text: str) -> "Config":
        """Parses TOML text (not a file name).

        Raises:
            AtomrError: the text is not valid TOML.
        """
        if not isinstance(text, str):
            raise TypeError(f"from_toml expects TOML text, not {type(text).__name__}")
        try:
            return Config(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise AtomrError(f"invalid TOML configuration: {exc}") from exc

    @staticmethod
    def from_dict(mapping: Mapping[str, Any]) -> "Config":
        """A configuration from nested dicts, lists and scalars.

        Raises:
            ValueError: a value is None, or the top level is not a mapping.
            TypeError: a value has an unsupported type.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"the top level of a config must be a mapping, not "
                             f"{type(mapping).__name__}")
        return Config(mapping)

    def _lookup(self, key: str) -> Any:
        node: Any = self._root
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return node

    def get(self, key: str, default: Any = None) -> Any:
        """The value at the dotted `key`, or `default`."""
        try:
            return copy.deepcopy(self._lookup(key))
        except KeyError:
            return default

    def get_string(self, key: str) -> Optional[str]:
        value = self.get(key)
        return value if isinstance(value, str) else None

    def get_int(self, key: str) -> Optional[int]:
        value = self.get(key)
        if isinstance(value, bool):
            return None
        if isinstance(value, float):
            return int(value)
        return value if isinstance(value, int) else None

    def get_bool(self, key: str) -> Optional[bool]:
        value = self.get(key)
        return value if isinstance(value, bool) else None

    def extract(self, key: str) -> Any:
        """The subtree at `key` as plain Python values.

        Raises:
            AtomrError: the key is missing.
        """
        try:
            return copy.deepcopy(self._lookup(key))
        except KeyError:
            raise AtomrError(f"config key `{key}` is missing") from None

    def extract_root(self) -> dict:
        """The whole tree as a dict."""
        return copy.deepcopy(self._root)

    def __contains__(self, key: str) -> bool:
        try:
            self._lookup(key)
            return True
        except KeyError:
            return False

    def __repr__(self) -> str:
        return f"Config({self._root!r})"
