"""RADIUS over UDP with an attribute of invalid length (RFC 2865 §5): still RADIUS when the
length field is the datagram's and the attributes before it prove their types; otherwise
(padding after it, a fixed-size attribute of another size, a stream) nothing is claimed."""

from __future__ import annotations

import struct

from probescan.detect import Detection, Messages
from probescan.detect.auth import radius_detect
from probescan.model import Transport

AUTHENTICATOR = bytes(range(0x10, 0x20))
NAS_IP = bytes([4, 6, 192, 0, 2, 10])  # NAS-IP-Address: always 6 octets
VSA = bytes([26, 12]) + struct.pack("!I", 9) + bytes([1, 6]) + b"abcd"  # vendor 9
BAD = bytes([1, 1]) + b"alice"  # User-Name with a length of 1


def request(body: bytes, extra: bytes = b"") -> bytes:
    return bytes([1, 0x42]) + struct.pack("!H", 20 + len(body)) + AUTHENTICATOR + body + extra


def claim(data: bytes, transport: Transport = "udp") -> object:
    return radius_detect(Messages(transport, client=(data,), client_port=40000,
                                  server_port=1812))


def test_a_damaged_request_is_radius() -> None:
    r = claim(request(NAS_IP + VSA + BAD))
    assert isinstance(r, Detection) and r.facts["radius_damaged"] is True


def test_a_damaged_packet_must_end_with_its_length_and_prove_its_attributes() -> None:
    assert claim(request(NAS_IP + VSA + BAD, b"\0\0")) is None  # the length is not the datagram's
    assert claim(request(bytes([4, 7, 192, 0, 2, 10, 0]) + VSA + BAD)) is None  # a 7-octet address
    vendor_high = bytes([26, 12, 1, 0, 0, 9, 1, 6]) + b"abcd"  # Vendor-Id's high octet not 0
    assert claim(request(vendor_high + BAD)) is None
    assert claim(request(bytes([18, 7]) + b"hello" + BAD)) is None  # nothing proves a type
    assert claim(request(NAS_IP + VSA + BAD), "tcp") is None  # a stream: no datagram length
