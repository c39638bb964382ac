"""nmap XML output: valid against nmap's DTD, read by ndiff, safe with hostile banners.

External tools: xmllint (Debian libxml2-utils), ndiff (Debian ndiff) and the DTD
(/usr/share/nmap/nmap.dtd, Debian nmap-common). Missing ones skip their tests, except with
PROBESCAN_REQUIRE_SERVERS=1, where they fail.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pytest

from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo
from probescan.output.nmapxml import NmapXmlWriter, port_ranges, xml_safe

DTD = Path("/usr/share/nmap/nmap.dtd")
START = 1_700_000_000.0
END = START + 12.5
ARGS = ["probescan", "scan", "-p", "1-1024", "--all-states", "-oX", "out.xml", "lab"]

HOSTILE = "a\x00b\x01\x08\x0b\x0c\x1b[31m\x7f ]]> <script>alert(1)</script> \"q\" 'a' & \r\n\t" \
    "\udcff\ufffe end"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} not installed")
    assert path is not None
    return path


def _dtd() -> Path:
    if not DTD.exists():
        _missing(f"{DTD} missing (Debian package nmap-common)")
    return DTD


def _missing(reason: str) -> None:
    if os.environ.get("PROBESCAN_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and PROBESCAN_REQUIRE_SERVERS=1")
    pytest.skip(reason)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def ssh(ip: str = "192.0.2.10", port: int = 22, version: str = "9.2p1") -> ServiceRecord:
    return ServiceRecord(
        Endpoint(ip, port), "open", service="ssh", product="OpenSSH", version=version,
        info="Debian-2+deb12u3", os="Linux", cpe=(f"cpe:/a:openbsd:openssh:{version}",
                                                  "cpe:/o:linux:linux_kernel"),
        method="banner", confidence=10,
        evidence=(Evidence("null", "ssh.openssh", "probescan:ssh.toml", b"SSH-2.0-x\r\n"),),
        timings={"connect": 0.0004, "total": 0.002},
    )


def https(ip: str = "2001:db8::5", port: int = 443) -> ServiceRecord:
    tls = TlsInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", alpn="h2",
                  subject="CN=www.example.test", issuer="CN=Example CA",
                  sans=("www.example.test", "example.test"), not_before="2024-01-01T00:00:00Z",
                  not_after="2025-01-01T00:00:00Z", serial="0a1b", sha256="ab" * 32,
                  self_signed=False)
    return ServiceRecord(
        Endpoint(ip, port, hostname="www.example.test"), "open", service="http",
        product="nginx", version="1.22.1", tunnel="tls", tls=tls, method="probe",
        confidence=10, cpe=("cpe:/a:igor_sysoev:nginx:1.22.1",),
        timings={"connect": 0.001, "total": 0.01},
    )


def scan_records() -> list[ServiceRecord]:
    """Two hosts interleaved, all kinds of service results, closed and filtered ports."""
    a, b = "192.0.2.10", "2001:db8::5"
    return [
        ssh(a),
        https(b),
        ServiceRecord(Endpoint(a, 23), "closed", timings={"connect": 0.0002}),
        ServiceRecord(Endpoint(a, 8443), "open", service="tls", tunnel="tls",
                      tls=TlsInfo(version="TLSv1.2", self_signed=True), method="probe",
                      confidence=8),
        ServiceRecord(Endpoint(b, 80, hostname="www.example.test"), "open", service="http",
                      method="table", confidence=3),
        ServiceRecord(Endpoint(a, 81), "filtered"),
        ServiceRecord(Endpoint(a, 9999), "open", service="unknown", method="none",
                      confidence=0),
        ServiceRecord(Endpoint(a, 25), "closed"),
        ServiceRecord(Endpoint(a, 1), "open", service="tcpwrapped", method="probe",
                      confidence=8),
        ServiceRecord(Endpoint(a, 7), "open"),  # no service at all
    ]


def render(records: Iterable[ServiceRecord], *, interrupted: bool = False,
           **kwargs: object) -> str:
    buf = io.StringIO()
    writer = NmapXmlWriter(buf, ARGS, START, clock=Clock(), **kwargs)  # type: ignore[arg-type]
    try:
        for r in records:
            writer(r)
    finally:
        writer.close(END, interrupted=interrupted)
    return buf.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def xmllint(doc: Path, dtd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("xmllint"), "--noout", "--dtdvalid", str(dtd), str(doc)],
                          capture_output=True, text=True, timeout=60)


def relaxed_dtd(tmp_path: Path) -> Path:
    """nmap's DTD with the one deviation we make by default: nmaprun@scanner is not "nmap"."""
    text = _dtd().read_text(encoding="utf-8")
    relaxed = text.replace("scanner\t\t(nmap)\t\t#REQUIRED", "scanner\t\tCDATA\t\t#REQUIRED")
    assert relaxed != text, "nmap.dtd changed: update relaxed_dtd()"
    return write(tmp_path, "nmap-relaxed.dtd", relaxed)


def port(root: ET.Element, ip: str, portid: int) -> ET.Element:
    for host in root.iter("host"):
        if host.find("address").get("addr") == ip:  # type: ignore[union-attr]
            for p in host.iter("port"):
                if p.get("portid") == str(portid):
                    return p
    raise AssertionError(f"no port {ip}:{portid}")


# --- structure -------------------------------------------------------------------------


def test_document_structure_and_mapping() -> None:
    root = ET.fromstring(render(scan_records(), list_states={"open"}))
    assert root.tag == "nmaprun"
    assert root.get("scanner") == "probescan"
    assert root.get("args") == "probescan scan -p 1-1024 --all-states -oX out.xml lab"
    assert root.get("start") == str(int(START))
    assert root.get("xmloutputversion") == "1.05"
    (info,) = root.findall("scaninfo")
    assert info.attrib == {"type": "connect", "protocol": "tcp", "numservices": "10",
                           "services": "1,7,22-23,25,80-81,443,8443,9999"}

    hosts = root.findall("host")
    assert [h.find("address").attrib for h in hosts] == [  # type: ignore[union-attr]
        {"addr": "192.0.2.10", "addrtype": "ipv4"},
        {"addr": "2001:db8::5", "addrtype": "ipv6"},
    ]
    a, b = hosts
    assert a.find("status").attrib == {  # type: ignore[union-attr]
        "state": "up", "reason": "syn-ack", "reason_ttl": "0"}
    assert [p.get("portid") for p in a.iter("port")] == ["1", "7", "22", "8443", "9999"]
    assert [p.get("portid") for p in b.iter("port")] == ["80", "443"]
    assert [(h.get("name"), h.get("type")) for h in b.iter("hostname")] == [
        ("www.example.test", "user")]
    assert a.find("hostnames") is not None and not list(a.iter("hostname"))

    extra = {e.get("state"): e for e in a.iter("extraports")}
    assert extra["closed"].get("count") == "2"
    assert extra["closed"].find("extrareasons").attrib == {  # type: ignore[union-attr]
        "reason": "conn-refused", "count": "2", "proto": "tcp", "ports": "23,25"}
    assert extra["filtered"].get("count") == "1"
    assert not list(b.iter("extraports"))

    stats = root.find("runstats")
    assert stats is not None
    assert stats.find("hosts").attrib == {"up": "2", "down": "0", "total": "2"}  # type: ignore[union-attr]
    finished = stats.find("finished")
    assert finished is not None
    assert finished.get("time") == str(int(END)) and finished.get("elapsed") == "12.50"
    assert finished.get("exit") == "success" and finished.get("errormsg") is None
    assert "2 IP addresses (2 hosts up)" in finished.get("summary", "")


def test_service_mapping() -> None:
    root = ET.fromstring(render(scan_records()))
    a, b = "192.0.2.10", "2001:db8::5"

    s = port(root, a, 22).find("service")
    assert s is not None
    assert s.attrib == {"name": "ssh", "product": "OpenSSH", "version": "9.2p1",
                        "extrainfo": "Debian-2+deb12u3", "ostype": "Linux",
                        "method": "probed", "conf": "10"}
    assert [c.text for c in s.iter("cpe")] == ["cpe:/a:openbsd:openssh:9.2p1",
                                              "cpe:/o:linux:linux_kernel"]
    assert port(root, a, 22).find("state").attrib == {  # type: ignore[union-attr]
        "state": "open", "reason": "syn-ack", "reason_ttl": "0"}

    web = port(root, b, 443).find("service")
    assert web is not None
    assert (web.get("name"), web.get("tunnel"), web.get("method")) == ("http", "ssl", "probed")
    assert port(root, b, 80).find("service").attrib == {  # type: ignore[union-attr]
        "name": "http", "method": "table", "conf": "3"}
    assert port(root, a, 8443).find("service").attrib == {  # type: ignore[union-attr]
        "name": "ssl", "method": "probed", "conf": "8"}
    assert port(root, a, 9999).find("service").attrib == {  # type: ignore[union-attr]
        "name": "unknown", "method": "probed", "conf": "0"}
    assert port(root, a, 1).find("service").get("name") == "tcpwrapped"  # type: ignore[union-attr]
    assert port(root, a, 7).find("service") is None

    closed = port(root, a, 23)
    assert closed.find("state").attrib == {  # type: ignore[union-attr]
        "state": "closed", "reason": "conn-refused", "reason_ttl": "0"}
    assert closed.find("service") is None
    assert port(root, a, 81).find("state").get("reason") == "no-response"  # type: ignore[union-attr]


def test_tls_script() -> None:
    root = ET.fromstring(render([https()]))
    script = port(root, "2001:db8::5", 443).find("script")
    assert script is not None and script.get("id") == "probescan-tls"
    output = script.get("output", "")
    assert "Subject: CN=www.example.test" in output
    assert "Subject Alternative Name: www.example.test, example.test" in output
    assert "\n" in output  # &#10; survives attribute normalisation
    elems = {e.get("key"): e.text for e in script.findall("elem")}
    assert elems["version"] == "TLSv1.3" and elems["self_signed"] == "false"
    assert elems["sha256"] == "ab" * 32
    sans = script.find("table")
    assert sans is not None and sans.get("key") == "sans"
    assert [e.text for e in sans] == ["www.example.test", "example.test"]


def test_tls_script_carries_the_jarm() -> None:
    jarm = "2ad2ad0002ad2ad00042d42d00000069d641f34fe76acdc05c40262f8815e5"
    record = ServiceRecord(Endpoint("192.0.2.9", 443), "open", service="http", tunnel="tls",
                           tls=TlsInfo(version="TLSv1.3", jarm=jarm), method="probe",
                           confidence=10)
    script = port(ET.fromstring(render([record])), "192.0.2.9", 443).find("script")
    assert script is not None and f"JARM: {jarm}" in script.get("output", "")
    assert {e.get("key"): e.text for e in script.findall("elem")}["jarm"] == jarm


def test_same_port_twice_keeps_the_better_record() -> None:
    weak = ServiceRecord(Endpoint("192.0.2.1", 22, hostname="a.test"), "open", service="ssh",
                         method="table", confidence=3)
    strong = ServiceRecord(Endpoint("192.0.2.1", 22, hostname="b.test"), "open",
                           service="ssh", product="OpenSSH", method="banner", confidence=10)
    root = ET.fromstring(render([weak, strong, weak]))
    (host,) = root.findall("host")
    assert [h.get("name") for h in host.iter("hostname")] == ["a.test", "b.test"]
    (p,) = host.iter("port")
    assert p.find("service").get("product") == "OpenSSH"  # type: ignore[union-attr]


def test_udp_and_given_port_list() -> None:
    records = [ServiceRecord(Endpoint("192.0.2.1", 53, "udp"), "open", service="domain",
                             method="probe", confidence=10),
               ssh("192.0.2.1")]
    root = ET.fromstring(render(records, scanned_ports={"udp": [53, 161, 162],
                                                       "tcp": range(1, 1025)}))
    infos = [i.attrib for i in root.findall("scaninfo")]
    assert infos == [
        {"type": "connect", "protocol": "tcp", "numservices": "1024", "services": "1-1024"},
        {"type": "udp", "protocol": "udp", "numservices": "3", "services": "53,161-162"},
    ]
    p = port(root, "192.0.2.1", 53)
    assert p.get("protocol") == "udp"
    assert p.find("state").get("reason") == "udp-response"  # type: ignore[union-attr]


def test_interrupted_and_empty() -> None:
    root = ET.fromstring(render([ssh()], interrupted=True))
    finished = root.find("runstats/finished")
    assert finished is not None
    assert (finished.get("exit"), finished.get("errormsg")) == ("error", "interrupted")
    assert len(root.findall("host")) == 1

    empty = ET.fromstring(render([], interrupted=True))
    assert empty.findall("host") == [] and empty.findall("scaninfo") == []
    assert empty.find("runstats/hosts").attrib == {  # type: ignore[union-attr]
        "up": "0", "down": "0", "total": "0"}


def test_interrupted_scan_writes_a_complete_file(tmp_path: Path) -> None:
    """The caller's contract: close() in a finally block, whatever stops the scan."""
    path = tmp_path / "cut.xml"
    with pytest.raises(KeyboardInterrupt), path.open("w", encoding="utf-8") as stream:
        writer = NmapXmlWriter(stream, ARGS, START)
        try:
            for i, record in enumerate(scan_records()):
                if i == 4:
                    raise KeyboardInterrupt
                writer(record)
        finally:
            writer.close(END, interrupted=True)
    root = ET.parse(path).getroot()
    assert root.find("runstats/finished").get("exit") == "error"  # type: ignore[union-attr]
    assert sorted(int(p.get("portid", "0")) for p in root.iter("port")) == [22, 23, 443, 8443]


def test_close_is_idempotent_and_final() -> None:
    buf = io.StringIO()
    writer = NmapXmlWriter(buf, ARGS, START)
    writer(ssh())
    writer.close(END)
    text = buf.getvalue()
    writer.close(END, interrupted=True)
    assert buf.getvalue() == text
    with pytest.raises(RuntimeError):
        writer(ssh())


def test_port_ranges() -> None:
    assert port_ranges([]) == ""
    assert port_ranges([443, 22, 80, 81, 82, 22]) == "22,80-82,443"
    assert port_ranges(range(1, 1025)) == "1-1024"


# --- hostile strings -------------------------------------------------------------------


def test_xml_safe() -> None:
    assert xml_safe("ok\t\n\r é €") == "ok\t\n\r é €"
    assert xml_safe("\x00\x1b\x7f") == "\\x00\\x1b\x7f"  # DEL is legal XML 1.0
    assert xml_safe("\udc80\udcff") == "\\x80\\xff"  # surrogateescape'd bytes
    assert xml_safe("\ud800\ufffe\uffff") == "\\ud800\\ufffe\\uffff"


def test_hostile_strings_stay_well_formed() -> None:
    evil = ServiceRecord(
        Endpoint("192.0.2.66", 666, hostname=f"h{HOSTILE}"), "open", service=f"s{HOSTILE}",
        product=HOSTILE, version=HOSTILE, info=HOSTILE, hostname=HOSTILE, os=HOSTILE,
        device=HOSTILE, cpe=(f"cpe:/a:{HOSTILE}",), tunnel="tls",
        tls=TlsInfo(subject=HOSTILE, issuer=HOSTILE, sans=(HOSTILE, "]]>"), serial=HOSTILE),
        method="banner", confidence=10,
    )
    text = render([evil], list_states={"open"})
    raw = text.encode("utf-8")  # lone surrogates would raise here
    assert b"<script>" not in raw and b"]]>" not in raw
    root = ET.fromstring(raw)  # expat rejects every character XML 1.0 forbids

    expected = xml_safe(HOSTILE)
    assert "\x00" not in expected and "<script>alert(1)</script>" in expected
    p = port(root, "192.0.2.66", 666)
    service = p.find("service")
    assert service is not None
    for attr in ("product", "version", "extrainfo", "hostname", "ostype", "devicetype"):
        assert service.get(attr) == expected, attr
    assert service.get("name") == "s" + expected
    assert service.find("cpe").text == f"cpe:/a:{expected}"  # type: ignore[union-attr]
    assert root.find("host/hostnames/hostname").get("name") == "h" + expected  # type: ignore[union-attr]
    script = p.find("script")
    assert script is not None
    assert f"Subject: {expected}" in script.get("output", "")
    assert [e.text for e in script.find("table")] == [expected, "]]>"]  # type: ignore[union-attr]


def test_hostile_strings_validate(tmp_path: Path) -> None:
    evil = ServiceRecord(
        Endpoint("192.0.2.66", 666, hostname=HOSTILE), "open", service=HOSTILE,
        product=HOSTILE, info=HOSTILE, cpe=(HOSTILE,), tunnel="tls",
        tls=TlsInfo(subject=HOSTILE, sans=(HOSTILE,)), method="banner", confidence=10,
    )
    path = write(tmp_path, "evil.xml", render([evil]))
    result = xmllint(path, relaxed_dtd(tmp_path))
    assert result.returncode == 0, result.stderr


# --- external tools --------------------------------------------------------------------


def test_valid_against_nmap_dtd(tmp_path: Path) -> None:
    dtd = _dtd()
    strict = write(tmp_path, "strict.xml", render(scan_records(), scanner="nmap"))
    result = xmllint(strict, dtd)
    assert result.returncode == 0, result.stderr

    for name, text in [
        ("default.xml", render(scan_records(), list_states={"open"})),
        ("all.xml", render(scan_records())),
        ("interrupted.xml", render(scan_records()[:3], interrupted=True)),
        ("empty.xml", render([], interrupted=True)),
    ]:
        result = xmllint(write(tmp_path, name, text), relaxed_dtd(tmp_path))
        assert result.returncode == 0, f"{name}: {result.stderr}"

    # Against the unmodified DTD, scanner="probescan" is the one and only complaint.
    result = xmllint(write(tmp_path, "default.xml", render(scan_records())), dtd)
    errors = [line for line in result.stderr.splitlines() if "validity error" in line]
    assert len(errors) == 1 and 'attribute scanner of nmaprun' in errors[0], result.stderr


def test_ndiff_reads_and_compares(tmp_path: Path) -> None:
    ndiff = _tool("ndiff")
    before = scan_records()
    after = [ssh(version="9.6p1") if r.endpoint.port == 22 else r for r in before]
    after.append(ServiceRecord(Endpoint("192.0.2.10", 3306), "open", service="mysql",
                               product="MySQL", version="8.0.36", method="probe",
                               confidence=10))
    old = write(tmp_path, "old.xml", render(before, list_states={"open"}))
    new = write(tmp_path, "new.xml", render(after, list_states={"open"}))
    again = write(tmp_path, "again.xml", render(reversed(before), list_states={"open"}))

    same = subprocess.run([ndiff, str(old), str(again)], capture_output=True, text=True,
                          timeout=60)
    assert same.returncode == 0, same.stdout + same.stderr  # 0: same, 1: differ, 2: error

    diff = subprocess.run([ndiff, str(old), str(new)], capture_output=True, text=True,
                          timeout=60)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    out = diff.stdout
    assert "3306/tcp" in out and "MySQL 8.0.36" in out
    assert "-22/tcp" in out and "OpenSSH 9.2p1" in out
    assert "+22/tcp" in out and "OpenSSH 9.6p1" in out

    as_xml = subprocess.run([ndiff, "--xml", str(old), str(new)], capture_output=True,
                            text=True, timeout=60)
    assert as_xml.returncode == 1, as_xml.stderr
    ET.fromstring(as_xml.stdout)
