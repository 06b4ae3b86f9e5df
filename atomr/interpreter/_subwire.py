"""The envelope of mail between the main interpreter and the
subinterpreters of a ``python-subinterpreter-pool`` (imported on both
sides; it needs nothing of the native core).

An envelope is ``op, aid, ask_id, sender, payload``: a fixed header (the
operation's code, the actor id, the ask id, the length of `sender`), then
`sender` pickled (absent when None, the common case) and the payload bytes
as they are (a message pickled on its own, so an envelope is read even when
its message cannot be)."""

from __future__ import annotations

import pickle
import struct
from typing import Any

#: The operations, by code (the index).
OPS = ("msg", "spawn", "stop", "metrics", "reply", "ready", "started", "spawn-failed",
       "stopped", "restarted", "tell", "ask", "child", "watch", "unwatch", "watch-main",
       "unwatch-main", "release", "codec")
CODES = {op: i for i, op in enumerate(OPS)}

_HDR = struct.Struct("<BQQI")
HEADER = _HDR.size
_pack = _HDR.pack
_unpack = _HDR.unpack_from


#: The first byte of a payload encoded by a codec of the registry (a pickle
#: starts with 0x80): then the manifest's length (2 bytes), the manifest,
#: the codec's bytes.
CODEC_MARK = 0x43
_MLEN = struct.Struct("<H")


def codec_payload(manifest: str, blob: bytes) -> bytes:
    m = manifest.encode()
    return b"".join((b"C", _MLEN.pack(len(m)), m, blob))


def split_codec_payload(data: bytes) -> tuple[str, bytes]:
    """``(manifest, codec bytes)`` of a codec payload."""
    (n,) = _MLEN.unpack_from(data, 1)
    return data[3:3 + n].decode(), data[3 + n:]


def pack(op: str, aid: int = 0, ask_id: int = 0, sender: Any = None,
         payload: bytes = b"") -> bytes:
    """The envelope's bytes."""
    if sender is None:
        return _pack(CODES[op], aid, ask_id, 0) + payload
    blob = pickle.dumps(sender, pickle.HIGHEST_PROTOCOL)
    return b"".join((_pack(CODES[op], aid, ask_id, len(blob)), blob, payload))


def unpack(raw: bytes) -> tuple[str, int, int, Any, bytes]:
    """``(op, aid, ask_id, sender, payload)`` of an envelope."""
    code, aid, ask_id, n = _unpack(raw)
    if n:
        return OPS[code], aid, ask_id, pickle.loads(raw[HEADER:HEADER + n]), raw[HEADER + n:]
    return OPS[code], aid, ask_id, None, raw[HEADER:]
