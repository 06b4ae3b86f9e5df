"""Serial devices and byte streams: :class:`SerialTransport`, device listing
and raw-mode setup of a tty."""

from __future__ import annotations

import importlib
import os
import socket
import termios
import threading
from typing import Any, Optional, Union

from atomr._util import public_module

__all__ = ["SerialTransport"]

# The smallest and largest maximum frame size (as the TCP transport's).
_MIN_FRAME = 1024
_MAX_FRAME = 1 << 30
# The longest device label a handshake carries (its host field), in bytes.
_MAX_LABEL = 255
# Baud rates the platform's termios knows.
_BAUDS: dict[int, int] = {
    int(name[1:]): getattr(termios, name)
    for name in dir(termios)
    if name.startswith("B") and name[1:].isdigit() and int(name[1:]) > 0
}
# Device name prefixes of serial ports in /sys/class/tty.
_PREFIXES = ("ttyUSB", "ttyACM", "ttyS", "ttyAMA", "ttymxc", "ttySAC", "ttyO", "ttyHS",
             "ttyGS", "ttyXRUSB", "ttyTHS", "rfcomm")


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name or len(name.encode()) > _MAX_LABEL or any(c in name for c in "/@:# \t\n"):
        raise ValueError(f"{what} must be 1 to {_MAX_LABEL} bytes without '/', '@', ':', '#' "
                         f"or whitespace, got {name!r}")
    return name


def _check_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _check_seconds(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not 0 < value < float("inf"):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_frame_size(what: str, value: object) -> int:
    size = _check_int(what, value)
    if not _MIN_FRAME <= size <= _MAX_FRAME:
        raise ValueError(f"{what} must lie within {_MIN_FRAME}..{_MAX_FRAME} bytes, got {size}")
    return size


def _label_of(path: str) -> str:
    """The name of a device in addresses: its path without ``/dev/`` (or
    the leading ``/``), other separators turned into dots
    (``/dev/ttyUSB0`` -> ``ttyUSB0``, ``/dev/pts/3`` -> ``pts.3``)."""
    name = path[5:] if path.startswith("/dev/") else path.lstrip("/")
    name = "".join("." if c in "/\\" else "_" if c in ":@#" or c.isspace() else c for c in name)
    return name.strip(".") or "device"


def _make_raw(fd: int, baud: int) -> None:
    """Puts the tty `fd` in raw mode (8 data bits, no parity, one stop bit,
    no flow control, no echo or line editing) at `baud`."""
    iflag, oflag, cflag, lflag, _, _, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP |
               termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF |
               termios.IXANY)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | getattr(termios, "CRTSCTS", 0))
    cflag |= termios.CS8 | termios.CREAD | termios.CLOCAL
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    speed = _BAUDS[baud]
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _describe(device_dir: str, subsystem: str) -> str:
    """A description of the hardware behind a tty's sysfs ``device`` link:
    the USB product (and maker) when there is one, else its driver and
    where it sits."""
    here = os.path.realpath(device_dir)
    for _ in range(4):  # the USB device is a few levels above its interface
        product = _read_text(os.path.join(here, "product"))
        if product:
            maker = _read_text(os.path.join(here, "manufacturer"))
            return f"{maker} {product}" if maker and maker not in product else product
        here = os.path.dirname(here)
    interface = _read_text(os.path.join(device_dir, "interface"))
    if interface:
        return interface
    hardware = os.path.realpath(device_dir)
    if subsystem == "serial-base":  # a port object: the hardware is its parent
        hardware = os.path.dirname(os.path.dirname(hardware))
    driver_link = os.path.join(hardware, "driver")
    driver = os.path.basename(os.path.realpath(driver_link)) if os.path.exists(driver_link) \
        else ""
    bus = os.path.basename(os.path.realpath(os.path.join(hardware, "subsystem")))
    where = f"{bus} {os.path.basename(hardware)}".strip()
    return f"{driver or 'serial'} port ({where})" if where else f"{driver or 'serial'} port"


def _list_devices(sys_class: str = "/sys/class/tty", dev_dir: str = "/dev") -> list[tuple[str, str]]:
    """Serial ports from sysfs: the ttys with hardware behind them (a
    ``device`` link) whose node exists under `dev_dir`, except 8250
    placeholders (on the ``platform`` bus, or of UART type 0)."""
    try:
        names = sorted(os.listdir(sys_class))
    except OSError:
        return []
    found = []
    for name in names:
        if not name.startswith(_PREFIXES):
            continue
        node = os.path.join(dev_dir, name)
        device_dir = os.path.join(sys_class, name, "device")
        if not os.path.exists(node) or not os.path.exists(device_dir):
            continue
        subsystem = os.path.basename(os.path.realpath(os.path.join(device_dir, "subsystem")))
        if name.startswith("ttyS") and (subsystem == "platform" or _read_text(
                os.path.join(sys_class, name, "type")) == "0"):
            continue  # an 8250 placeholder without a UART
        found.append((node, _describe(device_dir, subsystem)))
    return found


@public_module("atomr.remote_serial")
class SerialTransport:
    """One end of a byte-stream link between two actor systems: a serial
    port (USB, UART), a pty, a pipe or socket, or one half of
    :meth:`duplex_pair`.

    Nothing is opened until :meth:`RemoteSystem.start_serial
    <atomr.remote_serial.RemoteSystem.start_serial>` binds the transport
    (once). A tty is put in raw mode (8N1, no flow control, no echo) at
    `baud`; other streams are used as they are. An ``int`` device is an
    open file descriptor that the transport takes over: it is closed when
    the link shuts down, or by :meth:`close` if it never starts.

    Example:
        >>> SerialTransport("probe", "/dev/ttyUSB0", baud=921600)  # doctest: +SKIP
        <SerialTransport probe@/dev/ttyUSB0 921600 baud>
    """

    __slots__ = ("_system_name", "_device", "_label", "_baud", "_max_frame_size",
                 "_outbound_limit", "_peer", "_handshake_interval", "_heartbeat_interval",
                 "_idle_timeout", "_bound", "_fd", "_lock",
                 "__weakref__")

    def __init__(self, system_name: str, device: Union[str, int], baud: int = 115200,
                 max_frame_size: int = 4 << 20, *, outbound_buffer_size: Optional[int] = None,
                 peer: Optional[str] = None, handshake_interval: float = 0.5,
                 heartbeat_interval: float = 1.0, idle_timeout: float = 10.0) -> None:
        """Validates the settings; nothing is opened yet.

        Args:
            system_name: The name of the local actor system (sent in the
                handshake; it must be the name of the system the transport
                is started with).
            device: A device path (``/dev/ttyUSB0``) or an open file
                descriptor to take over.
            baud: The line speed (a rate the platform's termios knows).
            max_frame_size: The longest frame accepted or sent, in bytes
                (1 KiB..1 GiB).
            outbound_buffer_size: Bytes that may wait to be written (and,
                before the peer's handshake, to be sent); a message beyond
                it becomes a dead letter. Default: 4 frames, at least 1 MiB.
            peer: The peer system's name when it is known in advance: a
                handshake from another system is refused, and
                ``actor_selection`` answers None for other systems before
                the handshake.
            handshake_interval: Seconds between handshakes repeated until
                the peer answers (after start and after a bad frame).
            heartbeat_interval: Once the peer has answered, a heartbeat
                frame is sent whenever nothing else was sent for this many
                seconds (the peer answers each one), so a healthy but quiet
                line still carries bytes both ways.
            idle_timeout: Once the peer has answered, the link is declared
                down when nothing at all was received for this many
                seconds (checked every `heartbeat_interval`): a peer whose
                system hangs or whose device stays open but silent. It goes
                down as at end of stream; its messages become dead letters.
                Must exceed `heartbeat_interval`.

        Raises:
            TypeError: an argument of the wrong type.
            ValueError: an empty or over-long name or device, a baud rate
                termios does not know, sizes or interval out of range.
        """
        self._system_name = _check_name("system_name", system_name)
        if isinstance(device, str):
            if not device or len(device.encode()) > _MAX_LABEL or "\0" in device:
                raise ValueError(f"device must be a path of 1 to {_MAX_LABEL} bytes, "
                                 f"got {device!r}")
            label = _label_of(device)
        elif isinstance(device, int) and not isinstance(device, bool):
            if device < 0:
                raise ValueError(f"a file descriptor must not be negative, got {device}")
            label = f"fd{device}"
        else:
            raise TypeError(f"device must be a path (str) or a file descriptor (int), "
                            f"not {type(device).__name__}")
        _check_int("baud", baud)
        if baud not in _BAUDS:
            raise ValueError(f"baud must be one of {sorted(_BAUDS)}, got {baud}")
        self._max_frame_size = _check_frame_size("max_frame_size", max_frame_size)
        if outbound_buffer_size is None:
            outbound_buffer_size = max(1 << 20, 4 * max_frame_size)
        _check_int("outbound_buffer_size", outbound_buffer_size)
        if outbound_buffer_size < 1:
            raise ValueError(f"outbound_buffer_size must be positive, got {outbound_buffer_size}")
        if peer is not None:
            _check_name("peer", peer)
        if isinstance(handshake_interval, bool) or \
                not isinstance(handshake_interval, (int, float)):
            raise TypeError(f"handshake_interval must be a number of seconds, "
                            f"not {type(handshake_interval).__name__}")
        if not 0 < handshake_interval < float("inf"):
            raise ValueError(f"handshake_interval must be a positive number of seconds, "
                             f"got {handshake_interval!r}")
        heartbeat_interval = _check_seconds("heartbeat_interval", heartbeat_interval)
        idle_timeout = _check_seconds("idle_timeout", idle_timeout)
        if idle_timeout <= heartbeat_interval:
            raise ValueError(f"idle_timeout ({idle_timeout!r} s) must exceed heartbeat_interval "
                             f"({heartbeat_interval!r} s)")
        self._device = device
        self._label = label
        self._baud = baud
        self._outbound_limit = outbound_buffer_size
        self._peer = peer
        self._handshake_interval = float(handshake_interval)
        self._heartbeat_interval = heartbeat_interval
        self._idle_timeout = idle_timeout
        self._bound = False
        self._fd: Optional[int] = device if isinstance(device, int) else None
        self._lock = threading.Lock()

    # -- settings -------------------------------------------------------------------

    @property
    def system_name(self) -> str:
        """The local system's name, as sent in the handshake."""
        return self._system_name

    @property
    def device(self) -> Union[str, int]:
        """The device path or file descriptor given."""
        return self._device

    @property
    def label(self) -> str:
        """The name of this end in addresses: the device path without
        ``/dev/`` and with dots for further slashes (``ttyUSB0``,
        ``pts.3``), ``fd<N>`` for a file descriptor, ``duplex-<system>`` for
        :meth:`duplex_pair`."""
        return self._label

    @property
    def baud(self) -> int:
        """The line speed set on a tty."""
        return self._baud

    @property
    def max_frame_size(self) -> int:
        """The longest frame accepted or sent, in bytes."""
        return self._max_frame_size

    @property
    def outbound_buffer_size(self) -> int:
        """Bytes that may wait to be written before messages are dropped."""
        return self._outbound_limit

    @property
    def peer(self) -> Optional[str]:
        """The expected peer system's name, if given."""
        return self._peer

    @property
    def heartbeat_interval(self) -> float:
        """Seconds of sending nothing after which a heartbeat is sent."""
        return self._heartbeat_interval

    @property
    def idle_timeout(self) -> float:
        """Seconds of receiving nothing after which the link is down."""
        return self._idle_timeout

    @property
    def bound(self) -> bool:
        """Whether a :class:`RemoteSystem` has started on this transport."""
        return self._bound

    # -- devices --------------------------------------------------------------------

    @staticmethod
    def list_devices() -> list[tuple[str, str]]:
        """The serial ports of this machine as ``(device path, description)``
        pairs, sorted by path: from pyserial's port listing when pyserial is
        installed, else from ``/sys/class/tty`` (USB serial adapters, CDC
        ACM devices, UARTs with hardware behind them). Empty where neither
        is available.
        """
        try:
            list_ports: Any = importlib.import_module("serial.tools.list_ports")
        except ImportError:
            return _list_devices()
        ports = sorted(list_ports.comports(), key=lambda p: p.device)
        return [(str(p.device), str(p.description or p.name or p.device)) for p in ports]

    @staticmethod
    def duplex_pair(system_a: str, system_b: str, buffer: int = 8192,
                    max_frame: int = 65536, *, heartbeat_interval: float = 1.0,
                    idle_timeout: float = 10.0) -> tuple["SerialTransport", "SerialTransport"]:
        """Two transports joined back to back in memory (an AF_UNIX stream
        socket pair whose kernel buffers hold about `buffer` bytes each
        way), for tests and for two systems of one process. Each expects
        the other system as its peer. `heartbeat_interval` and
        `idle_timeout` are both transports' (see :class:`SerialTransport`).

        Raises:
            TypeError, ValueError: bad names, sizes or intervals.
        """
        _check_name("system_a", system_a)
        _check_name("system_b", system_b)
        if system_a == system_b:
            raise ValueError(f"the two systems of a duplex pair need different names, "
                             f"got {system_a!r} twice")
        _check_int("buffer", buffer)
        if buffer < 1:
            raise ValueError(f"buffer must be positive, got {buffer}")
        _check_frame_size("max_frame", max_frame)
        left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for s in (left, right):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
                s.setblocking(False)
            a = SerialTransport(system_a, left.fileno(), max_frame_size=max_frame, peer=system_b,
                                heartbeat_interval=heartbeat_interval, idle_timeout=idle_timeout)
            b = SerialTransport(system_b, right.fileno(), max_frame_size=max_frame,
                                peer=system_a, heartbeat_interval=heartbeat_interval,
                                idle_timeout=idle_timeout)
        except BaseException:
            left.close()
            right.close()
            raise
        left.detach()
        right.detach()
        a._label = f"duplex-{system_a}"
        b._label = f"duplex-{system_b}"
        return a, b

    # -- binding (atomr.remote_serial.RemoteSystem) ------------------------------------

    def _bind(self) -> None:
        with self._lock:
            if self._bound:
                raise RuntimeError(f"{self!r} is already bound to a RemoteSystem "
                                   f"(a transport binds once)")
            if self._fd is None and isinstance(self._device, int):
                raise RuntimeError(f"{self!r} was closed")
            self._bound = True

    def _unbind(self) -> None:
        with self._lock:
            self._bound = False

    def _open(self) -> int:
        """Opens the device (or adopts the descriptor) non-blocking, raw
        when it is a tty; returns the descriptor.

        Raises:
            OSError: the device cannot be opened or configured.
        """
        fd = self._fd
        if fd is None:
            fd = os.open(str(self._device),
                         os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.set_blocking(fd, False)
            if os.isatty(fd):
                _make_raw(fd, self._baud)
        except BaseException:
            if self._fd is None:
                os.close(fd)
            raise
        self._fd = fd
        return fd

    def close(self) -> None:
        """Closes the device or descriptor (idempotent). The link of a
        started transport closes it itself when it shuts down."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        if not getattr(self, "_bound", True):
            self.close()

    def __repr__(self) -> str:
        return f"<SerialTransport {self._system_name}@{self._label} {self._baud} baud>"
