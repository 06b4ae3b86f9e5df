# The remote wire format over a plain byte stream (serial lines, pipes, ptys):
# cpp/include/atomr/remote/stream_link.hpp. Part of atomr._native._core
# (included by _core.pyx; declared in stream_link.pxd). atomr.remote_serial
# moves the bytes on the system's loop; framing, validation and
# resynchronisation after a bad frame are the C++ decoder's, the same frame
# format and checks as the TCP transport's.

from atomr._native.includes.stream_link cimport (
    CCloseReason, CHandshake, CStreamDecoder, CStreamItem, close_reason_name,
    encode_close_frame, encode_envelope, encode_handshake_frame, encode_heartbeat_frame,
)
from atomr._native.includes.remote cimport CRemoteErrc
from libc.stdint cimport uint8_t
from libc.string cimport memcpy

#: Kinds of the tuples `_StreamDecoder.feed` returns (first element): an
#: error, then the frame kinds of the wire format.
STREAM_ERROR = 0
STREAM_HANDSHAKE = 1
STREAM_HANDSHAKE_ACK = 2
STREAM_ENVELOPE = 3
STREAM_HEARTBEAT = 4
STREAM_HEARTBEAT_ACK = 5
STREAM_CLOSE = 6

_STREAM_ERROR_NAMES = {
    <int>CRemoteErrc.generic: "generic",
    <int>CRemoteErrc.malformed_frame: "malformed_frame",
    <int>CRemoteErrc.frame_too_large: "frame_too_large",
    <int>CRemoteErrc.unsupported_version: "unsupported_version",
}

_CLOSE_REASONS = {
    "shutdown": <int>CCloseReason.shutdown,
    "handshake_refused": <int>CCloseReason.handshake_refused,
    "protocol_error": <int>CCloseReason.protocol_error,
}


cdef class _StreamDecoder:
    """The incremental decoder of one byte stream's inbound side.

    It starts out hunting for a handshake (a reader may open a line
    mid-frame); once synchronised it decodes frames in order, and the
    first bad frame yields one error and sends it back to hunting for the
    peer's next handshake (bytes skipped meanwhile are counted in
    :attr:`bytes_discarded`).
    """

    def __init__(self, size_t max_frame_size=4 << 20):
        """Raises:
            ValueError: `max_frame_size` outside 1 KiB..1 GiB.
        """
        self.d.reset(new CStreamDecoder(max_frame_size))

    cdef CStreamDecoder* _live(self) except NULL:
        if self.d.get() == NULL:
            raise RuntimeError("the decoder was not initialised")
        return self.d.get()

    def feed(self, data):
        """Consumes `data` (bytes-like) and returns what it completed, in
        order, as tuples:

        * ``(STREAM_ERROR, message, code)`` (code: "malformed_frame",
          "frame_too_large", "unsupported_version", ...)
        * ``(STREAM_HANDSHAKE | STREAM_HANDSHAKE_ACK, system_name, uid,
          host, port, protocol_version)``
        * ``(STREAM_ENVELOPE, recipient, sender, manifest, payload,
          correlation_id)``
        * ``(STREAM_HEARTBEAT | STREAM_HEARTBEAT_ACK, sequence)``
        * ``(STREAM_CLOSE, reason, detail)``
        """
        cdef CStreamDecoder* d = self._live()
        cdef string chunk = _string_of(data)
        cdef vector[CStreamItem] items
        cdef CStreamItem* it
        cdef size_t i
        with nogil:
            d.feed(chunk.data(), chunk.size(), items)
        out = []
        for i in range(items.size()):
            it = &items[i]
            if it.type == 0:
                out.append((STREAM_ERROR, _utf8(it.error),
                            _STREAM_ERROR_NAMES.get(it.error_code, "generic")))
            elif it.type == 1 or it.type == 2:
                out.append((it.type, _utf8(it.hs.system_name), it.hs.uid, _utf8(it.hs.host),
                            it.hs.port, it.hs.protocol_version))
            elif it.type == 3:
                # A link mostly carries a few recipients and manifests: reuse
                # the last str of each while the bytes repeat.
                if self._last_recipient is None or it.env.recipient != self._last_recipient_bytes:
                    self._last_recipient = _utf8(it.env.recipient)
                    self._last_recipient_bytes = it.env.recipient
                if self._last_manifest is None or it.env.manifest != self._last_manifest_bytes:
                    self._last_manifest = _utf8(it.env.manifest)
                    self._last_manifest_bytes = it.env.manifest
                out.append((
                    STREAM_ENVELOPE, self._last_recipient,
                    _utf8(it.env.sender.value()) if it.env.sender.has_value() else None,
                    self._last_manifest, _bytes_of(it.env.payload),
                    it.env.correlation_id.value() if it.env.correlation_id.has_value()
                    else None))
            elif it.type == 4 or it.type == 5:
                out.append((it.type, it.sequence))
            else:
                out.append((STREAM_CLOSE, _str_of_view(close_reason_name(it.close.reason)),
                            _utf8(it.close.detail)))
        return out

    def resync(self):
        """Drops any partial frame and hunts for the peer's next handshake."""
        self._live().resync()

    @property
    def hunting(self):
        """Whether the decoder is looking for a handshake."""
        return self._live().hunting()

    @property
    def bytes_discarded(self):
        """Bytes skipped while hunting, since construction."""
        return self._live().bytes_discarded()

    @property
    def buffered(self):
        """Bytes of an incomplete frame held for the next :meth:`feed`."""
        return self._live().buffered()

    @property
    def max_frame_size(self):
        """The frame length limit this decoder enforces."""
        return self._live().max_frame_size()


cdef class _EnvelopeEncoder:
    """Encodes envelopes of one recipient and manifest (no sender, no
    correlation id): the C++ encoding of the envelope with an empty payload
    is made once, and each payload is appended with the length prefix
    patched."""

    def __init__(self, str recipient, str manifest, size_t max_frame_size=4 << 20):
        """Raises:
            FrameTooLargeError: even an empty payload exceeds the limit.
        """
        self.env.recipient = recipient.encode()
        self.env.manifest = manifest.encode()
        self.max_frame_size = max_frame_size
        self.prefix.clear()
        encode_envelope(self.env, self.prefix, max_frame_size)

    def encode(self, payload):
        """The frame of an envelope carrying `payload` (bytes).

        Raises:
            TypeError: `payload` is not bytes.
            FrameTooLargeError: the frame would exceed the limit.
        """
        cdef bytes data
        cdef string out
        cdef Py_ssize_t n
        cdef size_t length
        cdef size_t k
        cdef char* p
        if type(payload) is not bytes:
            raise TypeError(f"expected bytes, not {type(payload).__name__}")
        n = PyBytes_GET_SIZE(payload)
        length = self.prefix.size() - 4 + <size_t>n
        if length > self.max_frame_size:
            self.env.payload = _string_of(payload)
            try:
                encode_envelope(self.env, out, self.max_frame_size)  # raises
            finally:
                self.env.payload.clear()
        data = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self.prefix.size() + n)
        p = PyBytes_AS_STRING(data)
        memcpy(p, self.prefix.data(), self.prefix.size())
        memcpy(p + self.prefix.size(), PyBytes_AS_STRING(payload), <size_t>n)
        for k in range(4):
            p[k] = <char>((length >> (8 * k)) & 0xff)
        return data


def _stream_handshake(str system_name, uint64_t uid, str host, int port=0, bint ack=False):
    """The bytes of a handshake frame (a handshake ack with `ack`).

    Raises:
        MalformedFrameError: an empty or over-long (255 bytes) name or host.
        ValueError: `port` outside 0..65535.
    """
    cdef CHandshake hs
    cdef string out
    if port < 0 or port > 65535:
        raise ValueError(f"port must be within 0..65535, got {port}")
    hs.system_name = system_name.encode()
    hs.uid = uid
    hs.host = host.encode()
    hs.port = <uint16_t>port
    out = encode_handshake_frame(hs, ack)
    return _bytes_of(out)


def _stream_envelope(str recipient, str manifest, payload, sender=None, correlation_id=None,
                     size_t max_frame_size=4 << 20):
    """The bytes of an envelope frame.

    Raises:
        TypeError: `payload` is not bytes-like.
        FrameTooLargeError: the frame would exceed `max_frame_size`.
    """
    cdef CRemoteEnvelope env
    cdef string out
    _fill_envelope(env, recipient, manifest, payload, sender, correlation_id)
    encode_envelope(env, out, max_frame_size)
    return _bytes_of(out)


def _stream_close(str reason="shutdown", str detail=""):
    """The bytes of a close frame; `reason` is "shutdown",
    "handshake_refused" or "protocol_error".

    Raises:
        ValueError: another reason.
    """
    cdef CCloseReason r
    cdef string out
    if reason not in _CLOSE_REASONS:
        raise ValueError(f"unknown close reason {reason!r}")
    r = <CCloseReason><uint8_t><int>_CLOSE_REASONS[reason]
    out = encode_close_frame(r, detail.encode())
    return _bytes_of(out)


def _stream_heartbeat(uint64_t sequence, bint ack=False):
    """The bytes of a heartbeat frame (a heartbeat ack with `ack`)."""
    cdef string out = encode_heartbeat_frame(sequence, ack)
    return _bytes_of(out)
