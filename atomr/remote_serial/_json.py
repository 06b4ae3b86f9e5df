"""JSON helpers for the pre-encoded payloads of a serial link."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["encode_json", "decode_json"]


def encode_json(obj: Any) -> bytes:
    """`obj` as compact UTF-8 JSON bytes (what a serial link carries).

    Raises:
        TypeError: `obj` holds something JSON cannot represent.
        ValueError: `obj` holds NaN or an infinity, or a circular reference.
    """
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"cannot encode as JSON: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"cannot encode as JSON: {exc}") from None
    return text.encode("utf-8")


def decode_json(data: bytes) -> Any:
    """The value of the UTF-8 JSON in `data` (bytes, bytearray or memoryview).

    Raises:
        TypeError: `data` is not bytes-like.
        ValueError: `data` is not valid UTF-8 JSON.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_json takes bytes, not {type(data).__name__}")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
