"""Live: `probescan scans -i lo` and `probescan watch -i lo` started by the test while real
nmap, masscan and zmap scans run against 127.0.61.x from 127.0.81.x (explicit loopback
targets only), stopped by a signal: every scan's record (type, shape, tool, counts), the
records of an interrupted run kept, and UDP probes answered by ICMP port unreachable seen as
closed even when the capture filter takes only the probes. Needs root (CI runs as root)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.scans.live import probescan_live, records, stop, wait_for
from tests.scans.real import MASSCAN_TIMEOUT, listener, masscan, need, nmap, run, zmap

BLOCK = "net 127.0.81.0/24"  # every probe and every reply has a scanner at one end
TARGET = "127.0.61.200"
OPEN = 8081  # a listening port on TARGET
PORTS = f"1-40,{OPEN}"
SPREAD = "127.0.61.192/26"  # the horizontal scans' targets
IDLE = "6"  # a scan's record is written 6 s after it ends (unanswered probes wait 5 s)


def by_source(recs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["source"]["ip"]: r for r in recs}


def test_scans_on_a_live_interface(tmp_path: Path) -> None:
    """One `scans -i lo` run: nmap -sS, -sT, masscan and zmap one after the other (each from
    its own address of one /24, each written once quiet), then nmap -sF, stopped by SIGINT
    before its record was due: the interrupted run still writes it."""
    need("nmap", "masscan", "zmap")
    allow, block = tmp_path / "allow.txt", tmp_path / "block.txt"
    allow.write_text(f"{SPREAD}\n")
    block.write_text("")
    out = tmp_path / "scans.jsonl"
    steps = [(nmap("-sS", "-p", PORTS, source="127.0.81.1", target=TARGET), 180.0),
             (nmap("-sT", "-p", PORTS, source="127.0.81.2", target=TARGET), 180.0),
             (masscan("80,443", SPREAD, "127.0.81.4"), MASSCAN_TIMEOUT),
             (zmap(443, allow, block, source="127.0.81.5"), 180.0)]
    with listener(TARGET, OPEN), probescan_live(
            ["scans", "-i", "lo", "--bpf", BLOCK, "--idle", IDLE, "-o", str(out)]) as proc:
        for done, (argv, timeout) in enumerate(steps, 1):
            run(argv, timeout)
            wait_for(lambda n=done: len(records(out)) >= n, 30,  # type: ignore[misc]
                     f"the record of {' '.join(argv[:4])}")
        run(nmap("-sF", "-p", PORTS, source="127.0.81.3", target=TARGET))
        assert len(records(out)) == len(steps)  # the last scan is not quiet long enough yet
        code, summary, err = stop(proc, signal.SIGINT)
    assert code == 130 and "Traceback" not in err, err
    assert "5 scans" in summary.splitlines()[0]
    recs = records(out)
    assert [r["id"] for r in recs] == [1, 2, 3, 4, 5]
    assert all(r["kind"] == "scan" and r["grouping"] == "source" for r in recs)
    scans = by_source(recs)

    syn = scans["127.0.81.1"]
    assert (syn["type"], syn["shape"], syn["tool"]) == ("syn", "vertical", "nmap")
    assert syn["targets"]["count"] == 1 and syn["ports"]["count"] == 41
    assert (syn["replies"]["open"], syn["replies"]["closed"]) == (1, 40)

    connect = scans["127.0.81.2"]
    assert (connect["type"], connect["shape"], connect["tool"]) == (
        "connect", "vertical", "unknown")
    assert (connect["replies"]["open"], connect["replies"]["closed"]) == (1, 40)

    mass = scans["127.0.81.4"]
    assert (mass["type"], mass["shape"], mass["tool"]) == ("syn", "horizontal", "masscan")
    assert mass["tool_evidence"]["certainty"] == "certain"
    assert mass["targets"]["count"] == 64 and mass["ports"]["count"] == 2
    assert mass["attempts"] == 128 and mass["replies"]["filtered"] == 128  # lo drops them

    zm = scans["127.0.81.5"]
    assert (zm["type"], zm["shape"], zm["tool"]) == ("syn", "horizontal", "zmap")
    assert zm["targets"]["count"] == 64
    assert zm["ports"]["top"] == [{"port": 443, "transport": "tcp", "probes": 64}]

    fin = recs[-1]  # written only because the run was interrupted
    assert fin["source"]["ip"] == "127.0.81.3"
    assert (fin["type"], fin["shape"], fin["tool"]) == ("fin", "vertical", "nmap")
    assert fin["ports"]["count"] == 41 and fin["replies"]["closed"] == 40
    assert fin["replies"]["open|filtered"] >= 1


def test_udp_scan_answered_by_icmp_on_a_live_interface(tmp_path: Path) -> None:
    """nmap -sU against closed ports: each probe is answered by an ICMP port unreachable.
    The filter takes the scanner's UDP packets only; the errors quoting them pass all the
    same, so `scans -i` and `watch -i` both count the ports closed (without the errors they
    would read as open|filtered)."""
    need("nmap")
    probes_only = "udp and src net 127.0.81.0/24"
    scans_out, watch_out = tmp_path / "scans.jsonl", tmp_path / "watch.jsonl"
    with probescan_live(["watch", "-i", "lo", "--no-probe", "--workers", "0", "-q",
                         "--bpf", probes_only, "-o", str(watch_out)]) as watcher, \
            probescan_live(["scans", "-i", "lo", "--bpf", probes_only, "-q",
                            "-o", str(scans_out)]) as scanner:
        run(nmap("-sU", "-p", "1-30", source="127.0.81.6", target="127.0.61.201"))
        watched = stop(watcher, signal.SIGINT)
        scanned = stop(scanner, signal.SIGTERM)
    for code, _, err in (watched, scanned):
        assert code == 130 and "Traceback" not in err, err
    [from_scans] = records(scans_out)
    [from_watch] = [r for r in records(watch_out) if r["kind"] == "scan"]
    for r in (from_scans, from_watch):
        assert r["source"]["ip"] == "127.0.81.6"
        assert (r["type"], r["shape"], r["tool"]) == ("udp", "vertical", "nmap")
        assert r["ports"]["count"] == 30 and r["ports"]["sample"][0] == "1/udp"
        assert r["replies"]["closed"] >= 25
