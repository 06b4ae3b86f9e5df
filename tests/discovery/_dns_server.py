"""A tiny authoritative DNS server on loopback for the discovery tests:
answers from a table of records over UDP, with dnspython's message API."""

from __future__ import annotations

import select
import socket
import threading
from typing import Optional

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class LocalDnsServer:
    """Serves `records` ({(name, type): [rdata text, ...]}, names without
    the final dot) on 127.0.0.1 at a kernel-chosen port. A name not in the
    table answers NXDOMAIN; a known name without records of the asked type
    answers an empty NOERROR. With ``silent=True`` it never answers.
    Use as a context manager; ``address`` is ``"127.0.0.1:<port>"``."""

    def __init__(self, records: dict[tuple[str, str], list[str]], silent: bool = False) -> None:
        self.records = {(name.lower().rstrip("."), rdtype.upper()): texts
                        for (name, rdtype), texts in records.items()}
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "LocalDnsServer":
        self._thread = threading.Thread(target=self._serve, daemon=True, name="test-dns")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.05)
            if not ready:
                continue
            data, peer = self._sock.recvfrom(65535)
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if self.silent:
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            if not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                texts = self.records.get((name, rdtype))
                if texts:
                    response.answer.append(dns.rrset.from_text(
                        question.name, 60, dns.rdataclass.IN, question.rdtype, *texts))
            self._sock.sendto(response.to_wire(), peer)
