"""Voice chat and real-time data applications: Mumble, TeamSpeak 3, RTPS (DDS).

* Mumble (mumble.info protocol documentation, "UDP ping"): a client's 12-byte ping (four
  zero bytes and an 8-byte identifier) answered by 24 bytes: the server version, the same
  identifier, users, maximum users and allowed bandwidth.
* TeamSpeak 3: a client opens with an init packet whose 8-byte MAC field is "TS3INIT1"
  (packet id 0x65, client id 0, type Init1), the server answers with the same tag.
* RTPS (OMG DDS-RTPS 2.x §8.3.3, §9.4): a message header "RTPS", protocol version 2.x,
  vendor id and a 12-byte GUID prefix, then submessages (id, flags whose bit 0 gives their
  byte order, 2-byte length) that fill the datagram (a length of 0 reaches its end); RTI
  Connext's 16-byte "NDDSPING" datagram has no GUID prefix.
"""

from __future__ import annotations

from probescan.detect.base import UDP, Detection, Detector, Messages, Result

_LOOK = 4
TS3_INIT = b"TS3INIT1"


def mumble(msgs: Messages) -> Result:
    for mine, other, swapped in ((msgs.client, msgs.server, False),
                                 (msgs.server, msgs.client, True)):
        for ping in mine[:2]:
            if len(ping) != 12 or ping[:4] != b"\x00\x00\x00\x00":
                continue
            for pong in other[:2]:
                if len(pong) == 24 and pong[4:12] == ping[4:12] and pong[0] == 0 \
                        and pong[1] <= 2:
                    version = f"{pong[1]}.{pong[2]}.{pong[3]}"
                    return Detection("mumble", {"mumble_version": version}, swapped=swapped)
    return None


def teamspeak(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            if data.startswith(TS3_INIT) and len(data) >= 11 and data[8:10] == b"\x00\x65":
                return Detection("teamspeak", {"teamspeak_version": "3"})
    return None


def _rtps_submessages(data: bytes) -> bool:
    pos = 20
    while pos < len(data):
        if pos + 4 > len(data):
            return False
        raw = data[pos + 2 : pos + 4]
        size = int.from_bytes(raw, "little") if data[pos + 1] & 1 else int.from_bytes(raw, "big")
        if size == 0 and data[pos] not in (0x01, 0x06):  # PAD / INFO_TS may be empty
            return True  # "the submessage extends to the end"
        pos += 4 + size
    return pos == len(data)


def rtps(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            if data[:4] != b"RTPS" or len(data) < 16 or data[4] != 2 or data[5] > 5:
                continue
            if len(data) == 16 and data[8:16] == b"NDDSPING":
                return Detection("rtps", {"rtps_version": f"2.{data[5]}"})
            if len(data) > 20 and _rtps_submessages(data):
                return Detection("rtps", {"rtps_version": f"2.{data[5]}",
                                          "rtps_vendor": data[6:8].hex()})
    return None


DETECTORS = (
    Detector("mumble", UDP, mumble,
             "a 12-byte ping (zeros, 8-byte id) answered by 24 bytes echoing the id",
             "Mumble protocol documentation (UDP ping)"),
    Detector("teamspeak", UDP, teamspeak,
             "either side: an init packet tagged TS3INIT1 (packet id 0x65)",
             "TeamSpeak 3 client init packet (community protocol documentation)"),
    Detector("rtps", UDP, rtps,
             "either side: RTPS header (version 2.x, vendor, GUID prefix) whose submessages "
             "fill the datagram; RTI's NDDSPING", "OMG DDS-RTPS 2.x §8.3.3, §9.4"),
)
