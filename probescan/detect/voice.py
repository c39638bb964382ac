"""Messenger calls over UDP whose framing has no public specification but a structure that
holds across packets: LINE's call packets and IMO's keepalive.

LINE calls (LineCall; nDPI's line dissector records the facts): before and beside the RTP
stream each side sends packets whose first octet is 0xd0-0xdf (never an RTP/RTCP version 2
header) and whose third and fourth octets are a per-direction 16-bit packet number that
grows by one from packet to packet; a side's opening packet (64 octets or more) carries
0x06 0x02 at octets 4-5. RTP/RTCP packets (version 2) multiplexed on the flow are skipped,
anything else breaks the run. Claimed when one side shows its opening and three more
numbered packets in a row, or both sides their opening and one more. (NTP's mode 6 and 7
messages also open 0xd6/0xd7 with a sequence number at octets 2-3, but their requests are
12 octets with a zero status: no opening.)

IMO (nDPI's imo dissector lists the 10-octet 0x09 0x02 and 11-octet 0x00 0x09 0x03
datagrams): a keepalive request is 0x09 0x02 and an 8-octet token, the answer 0x09 0x03
and the same token (optionally after a 0x00 octet). Claimed only when an answer on one
side repeats the token of a request from the other.
"""

from __future__ import annotations

from probescan.detect.base import NEED_MORE, UDP, Detection, Detector, Messages, Result

# ---------------------------------------------------------------- LINE calls

LINE_MIN = 12
LINE_OPENING_MIN = 64
LINE_RUN_ONE_SIDE = 4
LINE_RUN_BOTH = 2
LINE_LOOK = 12  # datagrams per side read


def _line_run(side: tuple[bytes, ...]) -> tuple[int, bool]:
    """(numbered packets in a row from the side's opening one, whether another packet broke
    the run); RTP/RTCP version 2 datagrams between them are skipped."""
    run, last = 0, -1
    for p in side[:LINE_LOOK]:
        if len(p) >= 2 and p[0] >> 6 == 2:
            continue  # RTP or RTCP on the same flow
        if len(p) < LINE_MIN or p[0] >> 4 != 0xD:
            return run, True
        number = int.from_bytes(p[2:4], "big")
        if run and number != (last + 1) & 0xFFFF:
            return run, True
        if not run and (len(p) < LINE_OPENING_MIN or p[4:6] != b"\x06\x02"):
            return 0, True
        run, last = run + 1, number
    return run, False


def linecall(msgs: Messages) -> Result:
    c_run, c_broken = _line_run(msgs.client)
    s_run, s_broken = _line_run(msgs.server)
    if max(c_run, s_run) >= LINE_RUN_ONE_SIDE or min(c_run, s_run) >= LINE_RUN_BOTH:
        return Detection("linecall", {"linecall_numbered": c_run + s_run})
    if (c_run and not c_broken) or (s_run and not s_broken):
        return NEED_MORE  # a run still open: the next packets decide
    return None


# ---------------------------------------------------------------- IMO

IMO_LOOK = 16


def _imo_tokens(side: tuple[bytes, ...], answer: bool) -> set[bytes]:
    found = set()
    for p in side[:IMO_LOOK]:
        if len(p) == 11 and p[0] == 0:
            p = p[1:]
        if len(p) == 10 and p[0] == 0x09 and p[1] == (0x03 if answer else 0x02):
            found.add(p[2:])
    return found


def imo(msgs: Messages) -> Result:
    for requests, answers, swapped in ((msgs.client, msgs.server, False),
                                       (msgs.server, msgs.client, True)):
        asked = _imo_tokens(requests, answer=False)
        if asked and asked & _imo_tokens(answers, answer=True):
            return Detection("imo", {"imo_message": "keepalive"}, swapped=swapped)
    return None


DETECTORS = (
    Detector("linecall", UDP, linecall,
             "either side: an opening datagram (0xd0-0xdf, 0x06 0x02 at octets 4-5) and "
             "more whose 16-bit packet number at octets 2-3 grows by one (RTP between them "
             "skipped): four in a row, or two per side",
             "LINE call packets (no public specification; nDPI's line dissector records the "
             "per-direction packet number and the 0x06 0x02 opening)"),
    Detector("imo", UDP, imo,
             "both sides: a 0x09 0x02 keepalive with an 8-octet token answered by 0x09 0x03 "
             "and the same token",
             "IMO keepalive (no public specification; nDPI's imo dissector lists the "
             "datagrams)"),
)
