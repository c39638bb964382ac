"""Reading nmap's nmap-service-probes format into our probes and fingerprints.

Every probe file here is written by the test itself; the real nmap file is only read, when
installed, by the tests at the end.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import regex

from probescan.catalog.fingerprints import FingerprintSet
from probescan.catalog.nmap import (
    NULL_ALIAS,
    PRIORITY,
    LazyPattern,
    PatternError,
    compile_nmap_patterns,
    find_nmap_db,
    load_nmap_db,
    pcre_to_regex,
    unescape_payload,
)
from probescan.match import match_response

SSH_RULE = (  # one line in the file
    r"match ssh m|^SSH-(\d\.\d+)-OpenSSH_(\S+) Debian-(\S+)\r\n|"
    r" p/OpenSSH/ v/$2/ i/protocol $1; Debian $3/ o/Linux/"
    r" cpe:/a:openbsd:openssh:$2/a cpe:/o:linux:linux_kernel/a"
)

DB = r"""
# A small database in nmap's format, written for these tests.
Exclude T:9100-9102,U:5353,7

Probe TCP NULL q||
totalwaitms 6000
tcpwrappedms 3000
@SSH@
softmatch ftp m/^220[ -]/
match ftp m=^220 (\w+) FTP server \(v(\d+_\d+)\)= p|Acme FTP| v|$SUBST(2,"_",".")| h%$1% d{router{
match broken m|^(unclosed| p/Broken/
match badgroup m|^(a)b| p/$2/
match badflag m|^x|q p/X/
match badfield m|^y| z/what/
match badrange m|^[z-a]| p/Never/
match caseless m|^hello (\w+)|i p/Hello/ v/$P(1)/
match joined m|^LIST (.+)$|s i/services: $SUBST(1, "\r\n", ",")/

Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80,8000-8002
sslports 443,8443
match http m|^HTTP/1\.[01] \d+ .*\r\nServer: nginx/([\d.]+)|s p/nginx/ v/$1/ cpe:/a:nginx:nginx:$1/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: Apache|s p/Apache httpd/

Probe TCP HTTPOptions q|OPTIONS / HTTP/1.0\r\n\r\n|
rarity 4
ports 80
fallback GetRequest
match http m|^HTTP/1\.1 200 OK\r\nAllow: .*\r\nServer: Apache/([\d.]+)| v/$1/ i/from OPTIONS/

Probe TCP Help q|HELP\r\n|
rarity 8
match help-tcp m|^214 | p/Helpful/

Probe TCP Escapes q|\0\a\b\f\n\r\t\v\x41\xfe\\\|\"z|
rarity 9
match esc m|^ESC|

Probe TCP DNSTcp q%\0\x0c\0\0\x10\0\0\0\0\0\0\0\0\0%
rarity 5
fallback DNSStatus

Probe UDP DNSStatus q|\0\0\x10\0\0\0\0\0\0\0\0\0| no-payload
rarity 3
ports 53
match domain m|\0\0\x90\x04\0\0\0\0\0\0\0\0| p/Some DNS/

Probe UDP Help q|help\r\n| no-payload
rarity 6
totalwaitms 7500
match help-udp m|^usage| p/Helpful UDP/
""".replace("@SSH@", SSH_RULE)


def write(tmp_path: Path, text: str = DB, name: str = "nmap-service-probes") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def load(tmp_path: Path, intensity: int = 9, **kw: bool):  # type: ignore[no-untyped-def]
    return load_nmap_db(write(tmp_path), intensity, **kw)


# --------------------------------------------------------------------------- probes


def test_probes_keep_name_transport_ports_rarity_wait_and_services(tmp_path: Path) -> None:
    probes, _, stats = load(tmp_path)
    null = probes.by_name(NULL_ALIAS)
    assert null is not None
    assert (null.transport, null.payload, null.rarity, null.wait_ms) == ("tcp", b"", 1, 6000)
    assert null.services == ("ssh", "ftp", "badrange", "caseless", "joined")
    assert null.source == "nmap:nmap-service-probes"
    get = probes.by_name("nmap:GetRequest")
    assert get is not None
    assert get.payload == b"GET / HTTP/1.0\r\n\r\n"
    assert get.ports == frozenset({80, 8000, 8001, 8002})
    assert get.tls_ports == frozenset({443, 8443})
    assert (get.rarity, get.wait_ms, get.services) == (1, 5000, ("http",))
    assert not get.tls
    help_udp = probes.by_name("nmap:udp:Help")
    assert help_udp is not None
    assert (help_udp.transport, help_udp.wait_ms) == ("udp", 7500)
    dns = probes.by_name("nmap:DNSTcp")
    assert dns is not None and dns.rarity == 5 and dns.services == ()
    assert (stats.probes, stats.tcp_probes, stats.udp_probes) == (8, 6, 2)
    assert probes.problems == ()


def test_udp_probe_sharing_a_tcp_probes_name_gets_a_name_of_its_own(tmp_path: Path) -> None:
    probes, fps, _ = load(tmp_path)
    assert probes.by_name("nmap:Help") is not None
    assert probes.by_name("nmap:Help").transport == "tcp"  # type: ignore[union-attr]
    assert probes.by_name("nmap:udp:Help").transport == "udp"  # type: ignore[union-attr]
    got = match_response(fps, "nmap:udp:Help", b"usage: ...")
    assert got is not None and got.service == "help-udp"
    assert match_response(fps, "nmap:Help", b"usage: ...") is None


def test_probe_string_escapes_and_any_delimiter(tmp_path: Path) -> None:
    probes, _, _ = load(tmp_path)
    esc = probes.by_name("nmap:Escapes")
    assert esc is not None
    assert esc.payload == b'\x00\x07\x08\x0c\n\r\t\x0bA\xfe\\|"z'
    dns = probes.by_name("nmap:DNSTcp")  # delimited by % ... %
    assert dns is not None and dns.payload == b"\x00\x0c\x00\x00\x10" + b"\x00" * 9


def test_unescape_payload_refuses_what_nmap_refuses() -> None:
    assert unescape_payload(r"\x0A\!\ ") == b"\n! "
    for bad in (r"\x4", r"\xzz", r"\q", "ends\\"):
        with pytest.raises(ValueError):
            unescape_payload(bad)


def test_intensity_keeps_null_and_probes_up_to_that_rarity(tmp_path: Path) -> None:
    probes, fps, stats = load_nmap_db(write(tmp_path), 3)
    assert [p.name for p in probes.probes] == [NULL_ALIAS, "nmap:GetRequest", "nmap:DNSStatus"]
    assert stats.dropped_probes == 5
    assert not any("nmap:HTTPOptions" in (r.probes or ()) for r in fps.rules)
    probes0, _, _ = load_nmap_db(write(tmp_path), 0)
    assert [p.name for p in probes0.probes] == [NULL_ALIAS]
    with pytest.raises(ValueError):
        load_nmap_db(write(tmp_path), 10)


def test_exclude_directive_is_read_per_protocol(tmp_path: Path) -> None:
    _, _, stats = load(tmp_path)
    assert stats.exclude_tcp == frozenset({9100, 9101, 9102})
    assert stats.exclude_udp == frozenset({5353, 7})


# --------------------------------------------------------------------------- rules


def test_match_lines_become_fingerprints_with_nmap_ids(tmp_path: Path) -> None:
    path = write(tmp_path)
    _, fps, stats = load_nmap_db(path, 9)
    ssh_line = line_of(path, "match ssh ")
    own = [r for r in fps.rules if r.id == f"nmap:NULL:{ssh_line}" and r.priority == PRIORITY]
    assert len(own) == 1
    rule = own[0]
    assert rule.service == "ssh" and not rule.soft
    assert rule.probes == frozenset({NULL_ALIAS})
    assert rule.source == "nmap:nmap-service-probes" and rule.line == ssh_line
    assert rule.templates == {"product": "OpenSSH", "version": "$2",
                              "info": "protocol $1; Debian $3", "os": "Linux"}
    assert rule.cpe == ("cpe:/a:openbsd:openssh:$2", "cpe:/o:linux:linux_kernel")
    assert [r.priority for r in fps.rules] == sorted(r.priority for r in fps.rules)
    # NULL keeps 5 hard (ssh, ftp, badrange, caseless, joined) + 1 soft rule; + 2 GetRequest,
    # 1 HTTPOptions, 2 Help (tcp, udp), 1 Escapes, 1 DNSStatus
    assert (stats.match_rules, stats.softmatch_rules) == (12, 1)
    assert stats.services == 10


def test_openssh_banner_gives_product_version_info_and_cpe(tmp_path: Path) -> None:
    _, fps, _ = load(tmp_path)
    got = match_response(fps, NULL_ALIAS, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    assert got is not None and not got.soft
    assert (got.service, got.product, got.version, got.info, got.os) == (
        "ssh", "OpenSSH", "9.2p1", "protocol 2.0; Debian 2+deb12u3", "Linux")
    assert got.cpe == ("cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel")
    assert got.source == "nmap:nmap-service-probes"


def test_softmatch_names_the_service_and_a_hard_rule_refines_it(tmp_path: Path) -> None:
    _, fps, _ = load(tmp_path)
    soft = match_response(fps, NULL_ALIAS, b"220 welcome\r\n")
    assert soft is not None and soft.soft and soft.service == "ftp" and soft.product is None
    hard = match_response(fps, NULL_ALIAS, b"220 gw1 FTP server (v2_4)\r\n")
    assert hard is not None and not hard.soft
    # fields delimited by | % { : $SUBST turns 2_4 into 2.4
    assert (hard.product, hard.version, hard.hostname, hard.device) == (
        "Acme FTP", "2.4", "gw1", "router")


def test_pattern_flags_and_template_helpers(tmp_path: Path) -> None:
    _, fps, _ = load(tmp_path)
    got = match_response(fps, NULL_ALIAS, b"HELLO World")  # `i` flag
    assert got is not None and (got.service, got.version) == ("caseless", "World")
    # `s` flag; nmap's `$SUBST(1, "\r\n", ",")` with blanks and C escapes in its strings
    got = match_response(fps, NULL_ALIAS, b"LIST a\r\nb\r\nc")
    assert got is not None and got.info == "services: a,b,c"


def test_broken_rules_are_skipped_counted_and_the_rest_load(tmp_path: Path) -> None:
    path = write(tmp_path)
    _, fps, stats = load_nmap_db(path, 9)
    skipped = {line: why for line, why in stats.skipped}
    assert skipped[line_of(path, "match broken")].startswith("regex not translatable")
    assert skipped[line_of(path, "match badgroup")].startswith("template uses a missing group")
    assert "unknown pattern flag" in skipped[line_of(path, "match badflag")]
    assert "unknown version field" in skipped[line_of(path, "match badfield")]
    assert stats.skipped_rules == 4
    assert stats.skip_reasons == {"regex not translatable": 1, "template uses a missing group": 1,
                                  "malformed rule": 1, "malformed version info": 1}
    assert {p.line for p in fps.problems} == set(skipped)
    services = {r.service for r in fps.rules}
    assert {"broken", "badgroup", "badflag", "badfield"}.isdisjoint(services)
    # an out-of-order range passes translation; compiled lazily, it simply never matches ...
    assert "badrange" in services
    assert match_response(fps, NULL_ALIAS, b"zzz") is None
    late = compile_nmap_patterns(fps, str(path))
    assert [p.line for p in late] == [line_of(path, "match badrange")]
    # ... and compiling up front skips and counts it with the others
    _, eager, eager_stats = load_nmap_db(path, 9, compile_patterns=True)
    assert eager_stats.skipped_rules == 5
    assert eager_stats.skip_reasons["regex does not compile"] == 1
    assert "badrange" not in {r.service for r in eager.rules}


def test_fallback_rules_run_after_the_probes_own_rules(tmp_path: Path) -> None:
    path = write(tmp_path)
    _, fps, _ = load_nmap_db(path, 9)
    nginx = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n"
    got = match_response(fps, "nmap:HTTPOptions", nginx)  # only GetRequest's rule knows it
    assert got is not None and (got.product, got.version) == ("nginx", "1.22.1")
    assert got.fingerprint_id == f"nmap:GetRequest:{line_of(path, 'nginx/')}"
    # both HTTPOptions' own rule and GetRequest's Apache rule match: the own rule wins
    apache = b"HTTP/1.1 200 OK\r\nAllow: GET\r\nServer: Apache/2.4.57\r\n\r\n"
    got = match_response(fps, "nmap:HTTPOptions", apache)
    assert got is not None and (got.version, got.info) == ("2.4.57", "from OPTIONS")
    # after the fallbacks a TCP probe falls back to the NULL probe's rules ...
    banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    got = match_response(fps, "nmap:Help", banner)
    assert got is not None and got.fingerprint_id.startswith("nmap:NULL:")
    # ... a UDP probe does not
    assert match_response(fps, "nmap:udp:Help", banner) is None
    # a TCP probe may fall back to a UDP probe of that name (nmap >= 7.70)
    got = match_response(fps, "nmap:DNSTcp", b"\x00\x0c\x00\x00\x90\x04" + b"\x00" * 8)
    assert got is not None and got.product == "Some DNS"
    # fallback copies share id, line and pattern with the original rule
    copies = [r for r in fps.rules if r.id == got.fingerprint_id]
    assert len(copies) == 2 and copies[0].pattern is copies[1].pattern
    assert sorted(r.priority for r in copies) == [PRIORITY, PRIORITY + 1]


def test_directive_problems_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    path = write(tmp_path, r"""
        match early m|^x|
        Probe TCP NULL q||
        rarity 12
        whatever 1
        match ok m|^OK (\d+)| v/$1/
        Probe SCTP Odd q|x|
        match lost m|^lost|
        Probe TCP Bad q|\q|
        Probe TCP Other q|hi|
        fallback Nowhere
        ports 70000
        match other m|^other|
    """)
    probes, fps, stats = load_nmap_db(path, 9)
    assert [p.name for p in probes.probes] == [NULL_ALIAS, "nmap:Other"]
    whys = [str(p) for p in probes.problems]
    assert len(whys) == 7, whys
    for needle in ("before the first Probe", "rarity must be 1..9", "unknown directive",
                   "TCP or UDP", "unknown escape", "port out of range", "unknown fallback"):
        assert any(needle in w for w in whys), needle
    assert {r.service for r in fps.rules} == {"ok", "other"}
    got = match_response(fps, "nmap:Other", b"OK 42")  # via the NULL fallback
    assert got is not None and got.version == "42"
    assert stats.skipped_rules == 0


def test_template_text_in_utf8_is_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, r"""
        Probe TCP NULL q||
        match ftp m|^220 Z(\d+) | p/Zürich Förderband $1/ cpe:|h:zuerich:foerderband:$1|
    """)
    _, fps, _ = load_nmap_db(path)
    got = match_response(fps, NULL_ALIAS, b"220 Z600 ready")
    assert got is not None
    assert got.product == "Zürich Förderband 600"
    assert got.cpe == ("cpe:/h:zuerich:foerderband:600",)


# --------------------------------------------------------------------------- PCRE -> regex


@pytest.mark.parametrize(
    ("pcre", "text", "expected"),
    [
        (r"^a\0b", "a\x00b", "a\x00b"),  # \0 is a NUL byte
        (r"^\x4\x41", "\x04A", "\x04A"),  # one hex digit is enough for PCRE
        (r"^\x{42}", "B", "B"),
        (r"^\101", "A", "A"),  # three octal digits
        (r"^(a)\1", "aa", "aa"),
        (r"^x{a}", "x{a}", "x{a}"),  # a brace that is no quantifier is literal
        (r"^x{,2}", "x{,2}", "x{,2}"),
        (r"^ab\Z", "ab\n", "ab"),  # \Z allows a final newline ...
        (r"^ab\z", "ab\n", None),  # ... \z does not
        (r"^ab$", "ab\n", "ab"),
        (r"^a++b", "aaab", "aaab"),  # possessive
        (r"^a(?i)b", "aB", "aB"),  # inline flag from there on
        (r"^a(?i)b", "AB", None),
        (r"^[]a]+", "]a]", "]a]"),  # ] first in a class is literal
        (r"^[[:digit:]]+", "12x", "12"),
        (r"^\w+", "abé", "ab"),  # ASCII classes, as PCRE without UTF
        (r"^\y", "y", "y"),  # an unknown letter escape is the letter
        (r"^\Q.*\E!", ".*!", ".*!"),
        (r"^\e\cA", "\x1b\x01", "\x1b\x01"),
        (r"^\h\v", "\t\n", "\t\n"),
    ],
)
def test_pcre_patterns_mean_the_same_after_translation(
    pcre: str, text: str, expected: str | None
) -> None:
    source, _ = pcre_to_regex(pcre)
    got = regex.compile(source, regex.VERSION0 | regex.ASCII).search(text)
    assert (got.group(0) if got else None) == expected


@pytest.mark.parametrize("pcre", [r"(a", r"a)", r"[abc", "a\\", r"(a)\2", r"(?|a)",
                                  r"\x{100}", r"(*UTF8)a"])
def test_untranslatable_pcre_raises_pattern_error(pcre: str) -> None:
    with pytest.raises(PatternError):
        pcre_to_regex(pcre)


def test_pcre_translation_counts_capture_groups() -> None:
    assert pcre_to_regex(r"(a)(?:b)(?<n>c)(?=d)(?i)(e)\((f)")[1] == 4


def test_lazy_pattern_compiles_once_on_first_use() -> None:
    lazy = LazyPattern(r"^(a)", regex.VERSION0, 1, "^(a)")
    assert not lazy.compiled
    assert lazy.search("ab", timeout=0.05) is not None
    assert lazy.compiled and lazy.error is None
    broken = LazyPattern(r"[z-a]", regex.VERSION0, 0, "[z-a]")
    assert broken.search("z") is None and broken.error


def test_find_nmap_db_prefers_nmapdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path)
    monkeypatch.setenv("NMAPDIR", str(tmp_path))
    assert find_nmap_db() == tmp_path / "nmap-service-probes"
    monkeypatch.setenv("NMAPDIR", str(tmp_path / "missing"))
    found = find_nmap_db()
    assert found is None or found.name == "nmap-service-probes"


# --------------------------------------------------------------------------- the real file

REAL = Path("/usr/share/nmap/nmap-service-probes")
needs_nmap = pytest.mark.skipif(not REAL.is_file(), reason="nmap is not installed")


@pytest.fixture(scope="module")
def real() -> FingerprintSet:
    _, fps, stats = load_nmap_db(REAL)  # how long: `probescan fingerprints stats --nmap-db`
    print(stats.summary())
    assert stats.probes > 20 and stats.match_rules > 5000 and stats.softmatch_rules > 50
    assert stats.services > 500
    assert stats.skipped_rules < stats.match_rules // 100
    return fps


@needs_nmap
def test_installed_nmap_file_loads_thousands_of_rules(real: FingerprintSet) -> None:
    assert len(real.rules) > 10000


@needs_nmap
def test_installed_nmap_file_names_a_debian_openssh_banner(real: FingerprintSet) -> None:
    got = match_response(real, NULL_ALIAS, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    assert got is not None and not got.soft
    assert (got.service, got.product) == ("ssh", "OpenSSH")
    assert got.version is not None and got.version.split()[0] == "9.2p1"
    assert "cpe:/a:openbsd:openssh:9.2p1" in got.cpe


@needs_nmap
def test_installed_nmap_file_every_pattern_compiles(real: FingerprintSet) -> None:
    problems = compile_nmap_patterns(real)
    assert len(problems) < 20, problems[:5]
