"""Remoting over any byte stream: USB and UART serial ports, ptys, pipes.

Two actor systems joined by one link exchange **pre-encoded bytes**: each
end is a :class:`RemoteSystem` started with
:meth:`RemoteSystem.start_serial(system, transport) <RemoteSystem.start_serial>`
on a :class:`SerialTransport` (a device path, an open descriptor, or one
half of :meth:`SerialTransport.duplex_pair`). An end registers the
manifests it carries (:meth:`~RemoteSystem.register_bytes_codec`),
exposes local actors to the peer (:meth:`~RemoteSystem.expose_actor`) and
reaches the peer's with :meth:`~RemoteSystem.actor_selection`;
:func:`encode_json` / :func:`decode_json` turn values into payloads and back.

The frames are the TCP transport's (length prefix, version, kind;
handshake with system name and UID; envelopes), framed and checked by the
same C++ decoder. A serial line can corrupt or lose bytes, so after a bad
frame a link logs it, discards bytes until the peer's next handshake and
re-handshakes to get one (see docs/guide.md, "Remoting over a serial
line").
"""

from __future__ import annotations

from atomr.errors import FrameTooLargeError, MalformedFrameError
from atomr.remote_serial._devices import SerialTransport
from atomr.remote_serial._json import decode_json, encode_json
from atomr.remote_serial._link import SERIAL_SCHEME, RemoteActorRef, RemoteSystem

__all__ = [
    "SerialTransport",
    "RemoteSystem",
    "RemoteActorRef",
    "SERIAL_SCHEME",
    "encode_json",
    "decode_json",
    "FrameTooLargeError",
    "MalformedFrameError",
]
