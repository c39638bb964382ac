"""Flows announced by other flows: FTP data connections and TFTP transfers.

Both run between ports that tell nothing and carry arbitrary file bytes, so neither the port
table nor the payload can name them; the flow that set them up can:

* an FTP control flow's PASV/EPSV reply or PORT/EPRT command names the data endpoint
  (`protocols/ftp.py`); the next TCP flow to (or from) it is that session's data connection;
* a TFTP read or write request comes from the client's endpoint; the server answers it
  from a new port, so the next UDP flow with that client endpoint is the transfer.

Announcements are remembered for EXPECT_FOR seconds of capture time, at most MAX_EXPECTED at
once (the oldest forgotten first), and each is used once.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from probescan.protocols import ftp
from probescan.watch.flows import Flow

EXPECT_FOR = 120.0
MAX_EXPECTED = 10_000
FTP_MARKS = frozenset({b"227 ", b"229 ", b"PORT", b"port", b"EPRT", b"eprt"})
_TFTP_REQUEST = re.compile(rb"\x00[\x01\x02][^\x00]{1,255}\x00(?i:netascii|octet|mail)\x00")

Endpoint = tuple[str, int]
Announced = tuple[str, int]  # (service of the announced flow, id of the announcing flow)


class Expectations:
    def __init__(self) -> None:
        self._tcp: OrderedDict[Endpoint, tuple[Announced, float]] = OrderedDict()
        self._udp: OrderedDict[Endpoint, tuple[Announced, float]] = OrderedDict()

    def see_tcp(self, flow: Flow, src: Endpoint, payload: bytes, ts: float) -> None:
        """A TCP payload of `flow` from `src`: an FTP line announcing a data endpoint?"""
        if payload[:4] not in FTP_MARKS:
            return
        if src == flow.server:
            ep = ftp.data_endpoint_from_reply(payload, flow.server[0])
        else:
            ep = ftp.data_endpoint_from_command(payload)
        if ep is not None:
            self._remember(self._tcp, ep, ("ftp-data", flow.id), ts)

    def see_udp(self, flow: Flow, src: Endpoint, payload: bytes, ts: float) -> None:
        """A UDP datagram of `flow` from `src`: a TFTP request, answered from a new port?"""
        if payload[:1] == b"\x00" and payload[1:2] in (b"\x01", b"\x02") and \
                _TFTP_REQUEST.match(payload):
            self._remember(self._udp, src, ("tftp", flow.id), ts)

    def claim(self, flow: Flow) -> Announced | None:
        """The announcement a new flow fulfils, if any (then forgotten)."""
        table = self._tcp if flow.transport == "tcp" else self._udp
        if not table:
            return None
        for ep in (flow.server, flow.client):  # both: roles of a flow seen mid-stream may err
            hit = table.get(ep)
            if hit is not None and hit[0][1] != flow.id:
                del table[ep]
                if hit[1] >= flow.first_seen:
                    return hit[0]
        return None

    @staticmethod
    def _remember(table: OrderedDict[Endpoint, tuple[Announced, float]], ep: Endpoint,
                  what: Announced, ts: float) -> None:
        table.pop(ep, None)
        table[ep] = (what, ts + EXPECT_FOR)
        while len(table) > MAX_EXPECTED:
            table.popitem(last=False)
