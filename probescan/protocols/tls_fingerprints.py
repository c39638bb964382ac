"""Fingerprints of parsed TLS hellos (pure).

- JA3 / JA3S (Salesforce): decimal fields joined by "," and values by "-", MD5 of that string;
  GREASE values (RFC 8701) are left out of the JA3 client fields.
- JA4 (FoxIO, technical_details/JA4.md): see `ja4`.
"""

from __future__ import annotations

import hashlib

from probescan.protocols.tls_messages import (
    EXT_ALPN,
    EXT_SERVER_NAME,
    ClientHello,
    ServerHello,
    is_grease,
)

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}


def _dashed(values: tuple[int, ...] | list[int]) -> str:
    return "-".join(str(v) for v in values)


def ja3(ch: ClientHello) -> tuple[str, str]:
    """JA3 string and its MD5: version,ciphers,extensions,groups,point formats (no GREASE)."""
    fields = [
        str(ch.version),
        _dashed([c for c in ch.cipher_suites if not is_grease(c)]),
        _dashed([e.type for e in ch.extensions if not is_grease(e.type)]),
        _dashed([g for g in ch.supported_groups if not is_grease(g)]),
        _dashed(ch.ec_point_formats),
    ]
    text = ",".join(fields)
    return text, hashlib.md5(text.encode("ascii")).hexdigest()


def ja3s(sh: ServerHello) -> tuple[str, str]:
    """JA3S string and its MD5: legacy version,cipher,extensions in the order sent."""
    text = f"{sh.legacy_version},{sh.cipher_suite},{_dashed([e.type for e in sh.extensions])}"
    return text, hashlib.md5(text.encode("ascii")).hexdigest()


def _sha256_12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _ja4_alpn(ch: ClientHello) -> str:
    if not ch.alpn or not ch.alpn[0]:
        return "00"
    first = ch.alpn[0].encode("latin-1")
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def ja4(ch: ClientHello, transport: str = "t") -> str:
    """FoxIO JA4 fingerprint, e.g. ``t13d1516h2_8daaf6152771_e5627efa2ab1``.

    a: transport ("t" TCP, "q" QUIC, "d" DTLS), version (highest supported_versions entry,
       else legacy_version), "d"/"i" for SNI present/absent, two-digit counts of ciphers and
       extensions (GREASE excluded, capped at 99), first+last character of the first ALPN
       value ("00" when none; hex digits when either end byte is not alphanumeric).
    b: sha256 of the sorted 4-hex-digit cipher list, comma-joined, first 12 hex chars.
    c: sha256 of the sorted extension list without SNI (0000) and ALPN (0010), then "_" and
       the signature algorithms in the order sent (no "_" when there are none), 12 chars.
    Empty lists hash to "000000000000".
    """
    if transport not in ("t", "q", "d"):
        raise ValueError(f"JA4 transport must be 't', 'q' or 'd', not {transport!r}")
    ciphers = [c for c in ch.cipher_suites if not is_grease(c)]
    ext_types = [e.type for e in ch.extensions if not is_grease(e.type)]
    version = ch.max_version
    sni = "d" if EXT_SERVER_NAME in ext_types else "i"
    part_a = (
        f"{transport}{_JA4_VERSIONS.get(version, '00')}{sni}"
        f"{min(len(ciphers), 99):02d}{min(len(ext_types), 99):02d}{_ja4_alpn(ch)}"
    )
    part_b = _sha256_12(",".join(sorted(f"{c:04x}" for c in ciphers))) if ciphers else "0" * 12
    hashed_exts = sorted(f"{e:04x}" for e in ext_types if e not in (EXT_SERVER_NAME, EXT_ALPN))
    sigalgs = [f"{s:04x}" for s in ch.signature_algorithms if not is_grease(s)]
    if hashed_exts:
        text = ",".join(hashed_exts) + ("_" + ",".join(sigalgs) if sigalgs else "")
        part_c = _sha256_12(text)
    else:
        part_c = "0" * 12
    return f"{part_a}_{part_b}_{part_c}"
