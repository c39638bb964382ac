"""IPsec key exchange: ISAKMP / IKEv1 (RFC 2408, RFC 2409) and IKEv2 (RFC 7296).

The 28-byte header: initiator SPI (8 bytes, never zero), responder SPI (8; zero in the
first request), next payload, version (0x10 IKEv1, 0x20 IKEv2), exchange type, flags,
message id and the length of the whole message, which must be the datagram's (on port
4500, after the 4-byte non-ESP marker of zeros, RFC 3948). Unless IKEv1's encryption flag
hides them, the payloads (next payload, reserved/critical byte, 2-byte length) chain from
the header's next payload to the end exactly (IKEv2's Encrypted payload, 46, is last and
holds the rest).
"""

from __future__ import annotations

from probescan.detect.base import UDP, Detection, Detector, Fact, Messages, Result

HEADER = 28
NON_ESP = b"\x00\x00\x00\x00"
_LOOK = 4
V1_EXCHANGES = {1: "base", 2: "identity_protection", 3: "authentication_only",
                4: "aggressive", 5: "informational", 6: "transaction", 32: "quick_mode",
                33: "new_group_mode"}  # fmt: skip
V2_EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA",
                37: "INFORMATIONAL", 38: "IKE_SESSION_RESUME", 43: "IKE_INTERMEDIATE"}
# Payload types: IKEv1 1-20 (RFC 2408 §3.1, RFC 3947 NAT-D/NAT-OA 20-21) plus the drafts'
# private 130-132; IKEv2 33-55 (IANA "IKEv2 Payload Types").
V1_PAYLOADS = frozenset(range(1, 22)) | {130, 131, 132}
V2_PAYLOADS = frozenset(range(33, 56))
ENCRYPTED_V2 = 46


def _payloads_fill(data: bytes, first: int, allowed: frozenset[int]) -> bool:
    pos = HEADER
    payload = first
    while payload:
        if payload not in allowed or pos + 4 > len(data):
            return False
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if size < 4 or pos + size > len(data):
            return False
        if payload == ENCRYPTED_V2:
            return pos + size == len(data)
        payload = data[pos]
        pos += size
    return pos == len(data)


def ike_message(data: bytes) -> dict[str, Fact] | None:
    """Facts of an IKE message that fills `data`, or None."""
    if len(data) < HEADER or data[17] not in (0x10, 0x20) or data[:8] == bytes(8):
        return None
    if int.from_bytes(data[24:28], "big") != len(data):
        return None
    exchange, flags, first = data[18], data[19], data[16]
    if data[17] == 0x10:
        if exchange not in V1_EXCHANGES or flags & 0xF8:
            return None
        if not flags & 0x01 and not _payloads_fill(data, first, V1_PAYLOADS):
            return None
        return {"ike_version": "1", "ike_exchange": V1_EXCHANGES[exchange]}
    if exchange not in V2_EXCHANGES or flags & 0xC7:
        return None
    if exchange == 34 and not flags & 0x20 and data[8:16] != bytes(8):
        return None  # an IKE_SA_INIT request has no responder SPI yet
    if not _payloads_fill(data, first, V2_PAYLOADS):
        return None
    facts: dict[str, Fact] = {"ike_version": "2", "ike_exchange": V2_EXCHANGES[exchange]}
    facts["ike_role"] = "response" if flags & 0x20 else "request"
    return facts


def isakmp(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            if len(data) < HEADER:
                continue
            facts = ike_message(data)
            if facts is None and data[:4] == NON_ESP:
                facts = ike_message(data[4:])
                if facts is not None:
                    facts["ike_nat_t"] = True
            if facts is not None:
                return Detection("isakmp", facts)
    return None


DETECTORS = (
    Detector("isakmp", UDP, isakmp,
             "either side: an ISAKMP/IKE header (version 0x10/0x20, known exchange type, "
             "flags, non-zero initiator SPI) whose length is the datagram's (after the "
             "non-ESP marker on NAT-T) and whose payloads chain to its end",
             "RFC 2408, RFC 2409, RFC 7296, RFC 3948"),
)
