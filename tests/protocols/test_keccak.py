"""Keccak-256 against published digests, and its permutation against hashlib's SHA3-256
(same keccak-f[1600], different padding)."""

from __future__ import annotations

import hashlib

from probescan.protocols import keccak
from probescan.protocols.keccak import keccak256


def test_known_digests() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert keccak256(b"abc").hex() == (
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")


def _sha3_256(data: bytes) -> bytes:
    """SHA3-256 from the module's permutation: only the domain padding differs."""
    padded = bytearray(data)
    padded.append(0x06)
    padded.extend(b"\x00" * (-len(padded) % 136))
    padded[-1] |= 0x80
    state = [0] * 25
    for start in range(0, len(padded), 136):
        for i in range(17):
            state[i] ^= int.from_bytes(padded[start + 8 * i:start + 8 * i + 8], "little")
        keccak._permute(state)
    return b"".join(state[i].to_bytes(8, "little") for i in range(4))


def test_permutation_matches_sha3() -> None:
    for size in (0, 1, 135, 136, 137, 300, 1000):
        data = bytes(i % 251 for i in range(size))
        assert _sha3_256(data) == hashlib.sha3_256(data).digest()
