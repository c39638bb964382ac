"""Real Debian servers and clients of the protocols Debian ships, captured and labelled.

Each test runs a real server and a real client (dnsmasq and dhclient/udhcpc, krb5kdc and
kinit, openvpn, WireGuard, rsyslogd and logger, nmbd and nmblookup, avahi-daemon and
avahi-browse, transmission-cli, freeradius and radclient, snmptrapd and snmptrap) inside
network namespaces of its own (tests/watch/debian_net.py: loopback 127.0.150.1/24, veth links
of 10.150.x.y; nothing leaves them), captures them with tcpdump, runs
``python3 -m probescan watch -r CAPTURE --no-probe -o OUT.jsonl`` and checks that every flow
with payload on the protocol's port has the protocol's label (docs/protocols.md) — on the
usual port, and on an unusual one where the programs allow (the label comes from the bytes;
a usual port of another service only adds an anomaly).

Marked ``lab`` like the other real-server tests. They need root (namespaces); a missing
program skips, or fails under PROBESCAN_REQUIRE_SERVERS=1 (scripts/install-test-deps
installs them all).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.watch import debian_setup as setup
from tests.watch.debian_checks import check, needs, started, workdir
from tests.watch.debian_net import (
    CLIENT,
    ROOT,
    SERVER,
    Capture,
    link,
    netns,
    tcp_listening,
    udp_bound,
    wait_for,
    watch,
)
from tests.watch.debian_wireguard import wireguard_capture

pytestmark = pytest.mark.lab


@pytest.fixture
def d(tmp_path: Path) -> Path:
    return workdir(tmp_path)


# --------------------------------------------------------------------------- DHCP

@pytest.mark.parametrize(("client", "port"), [("dhclient", 67), ("udhcpc", 67),
                                              ("dhclient", 1067)])
def test_dhcp(d: Path, client: str, port: int) -> None:
    """dnsmasq's DHCP server and ISC dhclient or busybox udhcpc over a veth pair; dnsmasq
    and dhclient also on the alternate ports 1067/1068 (udhcpc has no port option)."""
    needs("dnsmasq", f"{client}:{'isc-dhcp-client' if client == 'dhclient' else 'udhcpc'}")
    with netns("da", "db") as (srv, cli):
        va, vb = link(srv, "10.150.5.1", cli, None)
        log = d / "dnsmasq.log"
        srv.spawn(["dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", f"--interface={va}",
                   "--bind-interfaces", "--dhcp-range=10.150.5.10,10.150.5.50,1h",
                   "--dhcp-authoritative", f"--dhcp-leasefile={d}/leases",
                   f"--pid-file={d}/dnsmasq.pid", "--log-dhcp",
                   *([f"--dhcp-alternate-port={port},{port + 1}"] if port != 67 else [])], log)
        started(wait_for(lambda: udp_bound(srv, port)), "dnsmasq", log)
        with Capture(srv, d / "dhcp.pcap", iface=va):
            if client == "dhclient":  # its script would rewrite /etc/resolv.conf: /bin/true
                argv = ["dhclient", "-1", "-v", "-sf", "/bin/true", "-lf", f"{d}/client.leases",
                        "-pf", f"{d}/dhclient.pid", "-p", str(port + 1), vb]
            else:
                argv = ["udhcpc", "-f", "-q", "-n", "-B", "-i", vb, "-s", "/bin/true",
                        "-t", "3", "-T", "1"]
            done = cli.run(argv, timeout=30)
        assert done.returncode == 0, done.stderr[-600:]
    check(watch(d / "dhcp.pcap"), port, "udp", "dhcps")


# --------------------------------------------------------------------------- Kerberos

@pytest.mark.parametrize("port", [88, 8888])
def test_kerberos(d: Path, port: int) -> None:
    """MIT krb5kdc and kinit (pre-authentication required: AS-REQ, KRB-ERROR, AS-REQ,
    AS-REP) and kvno (TGS-REQ/REP), over UDP and then over TCP."""
    needs("krb5kdc:krb5-kdc", "kdb5_util:krb5-kdc", "kadmin.local:krb5-admin-server",
          "kinit:krb5-user", "kvno:krb5-user")
    env = setup.kerberos(d, SERVER, port)
    with netns("k") as (ns,):
        log = d / "krb5kdc.log"
        ns.spawn(["krb5kdc", "-n", "-P", f"{d}/krb5kdc.pid"], log, env=env)
        started(wait_for(lambda: udp_bound(ns, port) and tcp_listening(ns, port)), "krb5kdc",
                log)
        with Capture(ns, d / "krb.pcap"):
            for conf in ("krb5.conf", "krb5-tcp.conf"):
                cenv = {**env, "KRB5_CONFIG": str(d / conf)}
                kinit = ns.run(["kinit", setup.KRB_USER], stdin=setup.KRB_PASSWORD + "\n",
                               env=cenv)
                assert kinit.returncode == 0, kinit.stderr
                kvno = ns.run(["kvno", "host/srv.probe.test"], env=cenv)
                assert kvno.returncode == 0, kvno.stderr
    records = watch(d / "krb.pcap")
    check(records, port, "udp", "kerberos-sec")
    check(records, port, "tcp", "kerberos-sec",
          anomaly="usually http-alt" if port == 8888 else None)


# --------------------------------------------------------------------------- OpenVPN

@pytest.mark.parametrize(("proto", "port", "wrap"), [
    ("udp", 1194, ""), ("tcp", 1194, ""), ("tcp", 443, ""), ("udp", 1194, "--tls-auth"),
    ("tcp", 1194, "--tls-crypt")])
def test_openvpn(d: Path, proto: str, port: int, wrap: str) -> None:
    """openvpn in TLS mode (--dev null) as server and client: hard resets, TLS inside the
    control channel, data channel keys; also with the control channel signed (--tls-auth)
    or encrypted (--tls-crypt) by a static key."""
    needs("openvpn", "openssl")
    setup.openvpn_pki(d, static_key=bool(wrap))
    with netns("o") as (ns, ):
        srv_log, cli_log = d / "server.log", d / "client.log"
        with Capture(ns, d / "openvpn.pcap"):
            ns.spawn(setup.openvpn(d, "server", proto, SERVER, port, CLIENT, wrap), srv_log)
            bound = udp_bound if proto == "udp" else tcp_listening
            started(wait_for(lambda: bound(ns, port)), "openvpn server", srv_log)
            ns.spawn(setup.openvpn(d, "client", proto, SERVER, port, CLIENT, wrap), cli_log)
            started(wait_for(lambda: "Initialization Sequence Completed"
                             in cli_log.read_text(errors="replace"), 20),
                    "openvpn client's session", cli_log)
    check(watch(d / "openvpn.pcap"), port, proto, "openvpn",
          anomaly="usually https" if port == 443 else None)


# --------------------------------------------------------------------------- WireGuard

@pytest.mark.allow_skip(reason="WireGuard needs its kernel module, or /dev/net/tun for "
                        "wireguard-go; a container may have neither")
@pytest.mark.parametrize("port", [51820, 53])
def test_wireguard(d: Path, port: int) -> None:
    """Two WireGuard peers (the kernel's, else wireguard-go) across a veth pair: handshake
    initiation and response, then transport data; also on 53/udp (DNS's port)."""
    wireguard_capture(d, ("wa", "wb"), "10.150", port)
    check(watch(d / "wg.pcap"), port, "udp", "wireguard",
          anomaly="usually domain" if port == 53 else None)


# --------------------------------------------------------------------------- syslog

@pytest.mark.parametrize("port", [514, 8514])
def test_syslog(d: Path, port: int) -> None:
    """logger (util-linux) to rsyslogd: RFC 5424 and RFC 3164 over UDP, and over TCP with
    newline framing and octet counting (RFC 6587)."""
    needs("rsyslogd:rsyslog", "logger:bsdutils")
    with netns("s") as (ns,):
        log = d / "rsyslogd.log"
        ns.spawn(setup.rsyslog(d, SERVER, port), log)
        started(wait_for(lambda: udp_bound(ns, port) and tcp_listening(ns, port)), "rsyslogd",
                log)
        with Capture(ns, d / "syslog.pcap"):
            for opts in (["--udp"], ["--udp", "--rfc3164"], ["--tcp"],
                         ["--tcp", "--octet-count"], ["--tcp", "--rfc3164"]):
                sent = ns.run(["logger", "--server", SERVER, "--port", str(port), *opts,
                               "-t", "probescan", "probescan test message"])
                assert sent.returncode == 0, sent.stderr
        assert wait_for(lambda: (d / "messages").exists()
                        and (d / "messages").read_text().count("probescan test") == 5)
    records = watch(d / "syslog.pcap")
    check(records, port, "udp", "syslog")
    # 514/tcp is rsh's in nmap's table (RFC 6587 §2 notes the clash): an anomaly there
    check(records, port, "tcp", "syslog", anomaly="usually shell" if port == 514 else None)


# --------------------------------------------------------------------------- NetBIOS

def test_netbios(d: Path) -> None:
    """Samba's nmbd and nmblookup across a veth pair: name queries (unicast, broadcast),
    node status; nmbd's own registrations and browse announcements (138/udp). Usual ports
    only: nmblookup always asks port 137."""
    needs("nmbd:samba", "nmblookup:samba-common-bin")
    with netns("na", "nb") as (a, b):
        va, _ = link(a, "10.150.6.1", b, "10.150.6.2")
        server = setup.smb_conf(d, "probesrv", "10.150.6.1")
        client = setup.smb_conf(d, "probecli", "10.150.6.2")
        log = d / "nmbd.log"
        with Capture(a, d / "netbios.pcap", iface=va):
            a.spawn(["nmbd", "-F", "--no-process-group", "-s", str(server), "--debug-stdout",
                     "-d", "1"], log)
            started(wait_for(lambda: udp_bound(a, 137)), "nmbd", log)
            for query in (["-U", "10.150.6.1", "PROBESRV"], ["-A", "10.150.6.1"],
                          ["-S", "-U", "10.150.6.1", "PROBESRV"],
                          ["-B", "10.150.6.255", "PROBEGROUP"]):
                b.run(["nmblookup", "-s", str(client), *query])
            found = b.run(["nmblookup", "-s", str(client), "-U", "10.150.6.1", "PROBESRV"])
            assert "10.150.6.1 PROBESRV<00>" in found.stdout, found.stdout + found.stderr
    records = watch(d / "netbios.pcap")
    check(records, 137, "udp", "netbios-ns")
    check(records, 138, "udp", "netbios-dgm")  # nmbd's announcements


# --------------------------------------------------------------------------- mDNS

def test_mdns(d: Path) -> None:
    """Two avahi-daemons across a veth pair (probes, announcements); avahi-browse and
    avahi-resolve through the second one's private D-Bus."""
    needs("avahi-daemon", "avahi-browse:avahi-utils", "avahi-resolve:avahi-utils",
          "dbus-daemon:dbus", "unshare:util-linux")
    bus_conf, env = setup.dbus_conf(d)
    with netns("ma", "mb") as (a, b):
        va, _ = link(a, "10.150.7.1", b, "10.150.7.2")
        logs = d / "avahi-srv.log", d / "avahi-cli.log"
        with Capture(a, d / "mdns.pcap", iface=va):
            a.spawn(setup.avahi(d, "probesrv", dbus=False), logs[0])
            b.spawn(["dbus-daemon", "--nofork", f"--config-file={bus_conf}"], d / "dbus.log")
            started(wait_for(lambda: (d / "bus").exists()), "dbus-daemon", d / "dbus.log")
            b.spawn(setup.avahi(d, "probecli", dbus=True), logs[1], env=env)
            for log in logs:
                up = wait_for(lambda f=log: "startup complete" in f.read_text(errors="replace"))
                started(up, "avahi-daemon", log)
            browse = b.run(["avahi-browse", "-a", "-t", "-r", "-p"], env=env, timeout=15)
            assert "probesrv.local;10.150.7.1" in browse.stdout, browse.stdout + browse.stderr
            resolve = b.run(["avahi-resolve", "-4", "-n", "probesrv.local"], env=env)
            assert "10.150.7.1" in resolve.stdout, resolve.stdout + resolve.stderr
    check(watch(d / "mdns.pcap"), 5353, "udp", "mdns")


# --------------------------------------------------------------------------- BitTorrent

@pytest.mark.parametrize(("utp", "port", "dht"), [(False, 51413, False), (True, 6881, False),
                                                 (False, 443, False), (False, 6881, True)])
def test_bittorrent(d: Path, utp: bool, port: int, dht: bool) -> None:
    """Two transmission-cli peers (a seed and a leecher that a small HTTP tracker introduces;
    no local discovery or PEX) over TCP, or over uTP (UDP); plaintext handshakes; with DHT,
    each bootstraps from the other (KRPC pings and queries on the peer port, UDP)."""
    needs("transmission-cli", "transmission-create:transmission-cli")
    tracker = ("10.150.8.1", 6969)
    meta = setup.torrent(d, f"http://{tracker[0]}:{tracker[1]}/announce")
    with netns("ba", "bb") as (a, b):
        va, _ = link(a, "10.150.8.1", b, "10.150.8.2")
        log = d / "tracker.log"
        a.spawn([sys.executable, "-m", "tests.watch.debian_setup", "tracker", *map(
            str, tracker)], log, env={"PYTHONPATH": str(ROOT)})
        started(wait_for(lambda: tcp_listening(a, tracker[1])), "tracker", log)
        pcap = d / "bittorrent.pcap"
        with Capture(a, pcap, iface=va):
            a.spawn(setup.transmission(d, "seed", "10.150.8.1", port, utp, meta,
                                       "10.150.8.2 51999" if dht else None), d / "seed.log")
            started(wait_for(lambda: "announce 10.150.8.1" in log.read_text(), 15),
                    "transmission-cli (seed)", d / "seed.log")
            b.spawn(setup.transmission(d, "leech", "10.150.8.2", 51999, utp, meta,
                                       f"10.150.8.1 {port}" if dht else None), d / "leech.log")
            started(wait_for(lambda: _bittorrent_seen(pcap.read_bytes(), dht), 30, 0.2),
                    "the peers' handshakes" + (" and DHT" if dht else ""), d / "leech.log")
    records = watch(pcap)
    check(records, port, "udp" if utp else "tcp", "bittorrent",
          anomaly="usually https" if port == 443 else None)
    if dht:
        check(records, port, "udp", "bittorrent")


def _bittorrent_seen(captured: bytes, dht: bool) -> bool:
    """Both peers' handshakes are in the capture, and a DHT reply (BEP 5) when asked."""
    return captured.count(b"\x13BitTorrent protocol") >= 2 and (not dht or b"1:y1:re" in captured)


# --------------------------------------------------------------------------- RADIUS

@pytest.mark.parametrize("port", [1812, 11812])
def test_radius(d: Path, port: int) -> None:
    """FreeRADIUS with radclient and radtest: Access-Request/Accept (PAP) on ``port``,
    Accounting-Request/Response on ``port`` + 1."""
    needs("freeradius", "radclient:freeradius-utils", "radtest:freeradius-utils")
    argv = setup.freeradius(d, SERVER, port)
    with netns("r") as (ns,):
        log = d / "freeradius.log"
        ns.spawn(argv, log)
        started(wait_for(lambda: udp_bound(ns, port) and udp_bound(ns, port + 1), 15),
                "freeradius", log)
        user = f'User-Name = "{setup.RADIUS_USER}"'
        with Capture(ns, d / "radius.pcap"):
            auth = ns.run(["radclient", "-x", "-r", "1", "-t", "3", f"{SERVER}:{port}", "auth",
                           setup.RADIUS_SECRET],
                          stdin=f'{user}, User-Password = "{setup.RADIUS_PASSWORD}"\n')
            assert "Access-Accept" in auth.stdout, auth.stdout + auth.stderr
            test = ns.run(["radtest", setup.RADIUS_USER, setup.RADIUS_PASSWORD,
                           f"{SERVER}:{port}", "0", setup.RADIUS_SECRET])
            assert "Access-Accept" in test.stdout, test.stdout + test.stderr
            acct = ns.run(["radclient", "-x", "-r", "1", "-t", "3", f"{SERVER}:{port + 1}",
                           "acct", setup.RADIUS_SECRET],
                          stdin=f'{user}, Acct-Status-Type = Start, Acct-Session-Id = "1"\n')
            assert "Accounting-Response" in acct.stdout, acct.stdout + acct.stderr
    records = watch(d / "radius.pcap")
    check(records, port, "udp", "radius")
    check(records, port + 1, "udp", "radius")


# --------------------------------------------------------------------------- SNMP traps

@pytest.mark.parametrize("port", [162, 10162])
def test_snmp_traps(d: Path, port: int) -> None:
    """Net-SNMP's snmptrapd with snmptrap (v1 and v2c traps) and snmpinform (v2c inform, and
    v3 with authPriv after the engine discovery), acknowledged with a response."""
    needs("snmptrapd", "snmptrap:snmp", "snmpinform:snmp")
    with netns("t") as (ns,):
        log = d / "snmptrapd.log"
        ns.spawn(setup.snmptrapd(d, SERVER, port), log, env=setup.snmp_env(d, "server"))
        started(wait_for(lambda: udp_bound(ns, port)), "snmptrapd", log)
        where, oid = f"udp:{SERVER}:{port}", "1.3.6.1.6.3.1.1.5.1"
        inform = ["snmpinform", "-r", "0", "-t", "3"]
        with Capture(ns, d / "snmp.pcap"):
            for argv in (["snmptrap", "-v", "2c", "-c", "public", where, "", oid],
                         ["snmptrap", "-v", "1", "-c", "public", where, "1.3.6.1.4.1.8072.2.3.1",
                          SERVER, "6", "17", "", "1.3.6.1.2.1.1.5.0", "s", "probescan"],
                         [*inform, "-v", "2c", "-c", "public", where, "", oid],
                         [*inform, "-v", "3", *setup.SNMP_V3_USER, where, "", oid]):
                sent = ns.run(argv, env=setup.snmp_env(d, "client"))
                assert sent.returncode == 0, sent.stderr
        assert wait_for(lambda: log.read_text(errors="replace").count(oid[1:]) >= 3)
    check(watch(d / "snmp.pcap"), port, "udp", "snmp")
