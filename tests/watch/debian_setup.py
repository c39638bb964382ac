"""The Debian servers' and clients' configurations for test_debian_protocols.py.

Each function writes what one program needs into a test's directory and returns its command
line (or environment). Addresses are given by the caller: 127.0.150.x on a namespace's
loopback, 10.150.x.y on veth links (tests/watch/debian_net.py). No pytest dependency here.

``python3 -m tests.watch.debian_setup tracker IP PORT`` is the BitTorrent tracker of the
transmission test (HTTP announces answered with the other peers, BEP 3 and BEP 23).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

from tests.watch.debian_net import NetError, Netns, wait_for

REALM = "PROBE.TEST"
KRB_USER, KRB_PASSWORD = "alice", "alice-pw-150"
RADIUS_SECRET = "probescan-secret"
RADIUS_USER, RADIUS_PASSWORD = "alice", "alice-pw-150"


# --------------------------------------------------------------------------- Kerberos

def kerberos(d: Path, ip: str, port: int) -> dict[str, str]:
    """A KDC database of realm PROBE.TEST (alice, a host/ service); the environment that
    krb5kdc, kinit and kvno read (KRB5_CONFIG over UDP, KRB5_CONFIG_TCP for TCP only)."""
    (d / "kdc.conf").write_text(
        f"[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n"
        f"[realms]\n {REALM} = {{\n  database_name = {d}/principal\n"
        f"  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n"
        f"  kdc_listen = {ip}:{port}\n  kdc_tcp_listen = {ip}:{port}\n }}\n"
        f"[logging]\n kdc = FILE:{d}/kdc.log\n")
    client = (f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n"
              f" dns_lookup_realm = false\n rdns = false\n udp_preference_limit = {{limit}}\n"
              f"[realms]\n {REALM} = {{{{\n  kdc = {ip}:{port}\n }}}}\n")
    (d / "krb5.conf").write_text(client.format(limit=1465))
    (d / "krb5-tcp.conf").write_text(client.format(limit=1))
    env = {"KRB5_CONFIG": str(d / "krb5.conf"), "KRB5_KDC_PROFILE": str(d / "kdc.conf"),
           "KRB5CCNAME": f"FILE:{d}/ccache"}
    for argv in (["kdb5_util", "create", "-s", "-r", REALM, "-P", "master-pw-150", "-W"],
                 ["kadmin.local", "-r", REALM, "-q",
                  f"addprinc +requires_preauth -pw {KRB_PASSWORD} {KRB_USER}"],
                 ["kadmin.local", "-r", REALM, "-q", "addprinc -randkey host/srv.probe.test"]):
        subprocess.run(argv, env={**os.environ, **env}, check=True, capture_output=True,
                       timeout=30)
    return env


# --------------------------------------------------------------------------- OpenVPN

def openvpn_pki(d: Path, static_key: bool = False) -> None:
    """A CA and a server and a client certificate (P-256), for OpenVPN's TLS mode; with
    ``static_key`` also ta.key, for --tls-auth and --tls-crypt."""
    if static_key:
        subprocess.run(["openvpn", "--genkey", "secret", str(d / "ta.key")], check=True,
                       capture_output=True, timeout=30)
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=probescan-test-ca")
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        (d / f"{name}.ext").write_text(
            f"extendedKeyUsage={usage}\nkeyUsage=digitalSignature,keyAgreement\n")
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                "-extfile", f"{name}.ext")


def openvpn(d: Path, role: str, proto: str, server: str, port: int, client: str,
            wrap: str = "") -> list[str]:
    """openvpn in TLS mode without a tunnel device (--dev null), point to point; ``wrap``
    --tls-auth or --tls-crypt: the control channel signed or encrypted with ta.key."""
    argv = ["openvpn", "--dev", "null", "--ca", str(d / "ca.crt"), "--dh", "none",
            "--cert", str(d / f"{role}.crt"), "--key", str(d / f"{role}.key"), "--verb", "3",
            "--ping-exit", "30", "--connect-retry", "1"]
    if wrap == "--tls-auth":
        argv += [wrap, str(d / "ta.key"), "0" if role == "server" else "1"]
    elif wrap:
        argv += [wrap, str(d / "ta.key")]
    if role == "server":
        return [*argv, "--tls-server", "--local", server, "--lport", str(port),
                "--proto", "tcp-server" if proto == "tcp" else "udp"]
    return [*argv, "--tls-client", "--remote-cert-tls", "server", "--remote", server,
            str(port), "--local", client, "--lport", "0",
            "--proto", "tcp-client" if proto == "tcp" else "udp"]


# --------------------------------------------------------------------------- WireGuard

SEND_UDP = ("import socket, sys, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(4):\n    s.sendto(b'probescan', (sys.argv[1], 9)); time.sleep(0.25)\n")


def wg_keys(d: Path, name: str) -> tuple[Path, str]:
    """A private key file (mode 0600) and its public key."""
    key = d / f"{name}.key"
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True)
    key.touch(0o600)
    key.write_text(private.stdout)
    public = subprocess.run(["wg", "pubkey"], input=private.stdout, capture_output=True,
                            text=True, check=True)
    return key, public.stdout.strip()


def wg_kernel(ns: Netns) -> bool:
    """The kernel's WireGuard works here (else wireguard-go, in user space)."""
    try:
        ns.ip("link", "add", "wgprobe", "type", "wireguard")
    except NetError:
        return False
    ns.ip("link", "del", "wgprobe")
    return True


def wg_device(ns: Netns, dev: str, kernel: bool, log: Path) -> bool:
    """The WireGuard interface ``dev`` in ``ns``: the kernel's, or wireguard-go's."""
    if kernel:
        ns.ip("link", "add", dev, "type", "wireguard")
        return True
    ns.spawn(["wireguard-go", "-f", dev], log)
    return wait_for(lambda: ns.run(["ip", "link", "show", dev]).returncode == 0)


def wg_configure(ns: Netns, dev: str, key: Path, address: str, peer_key: str, peer: str,
                 listen: int | None, endpoint: str | None) -> str:
    """Keys, the one peer (its tunnel address ``peer``), the tunnel address; "" or an error."""
    argv = ["wg", "set", dev, "private-key", str(key)]
    argv += ["listen-port", str(listen)] if listen is not None else []
    argv += ["peer", peer_key, "allowed-ips", f"{peer}/32"]
    argv += ["endpoint", endpoint] if endpoint is not None else []
    done = ns.run(argv)
    if done.returncode != 0:
        return f"wg set: {done.stderr.strip()}"
    ns.ip("addr", "add", f"{address}/24", "dev", dev)
    ns.ip("link", "set", dev, "up")
    return ""


# --------------------------------------------------------------------------- syslog, SNMP

def rsyslog(d: Path, ip: str, port: int) -> list[str]:
    """rsyslogd receiving on UDP and TCP ``ip:port`` into a file of the test."""
    (d / "rsyslog.conf").write_text(
        f'global(workDirectory="{d}")\nmodule(load="imudp")\nmodule(load="imtcp")\n'
        f'input(type="imudp" address="{ip}" port="{port}")\n'
        f'input(type="imtcp" address="{ip}" port="{port}")\n'
        f'*.* action(type="omfile" file="{d}/messages")\n')
    return ["rsyslogd", "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "rsyslogd.pid")]


SNMP_V3_USER = ["-u", "probe", "-l", "authPriv", "-a", "SHA", "-A", "probe-auth-150",
                "-x", "AES", "-X", "probe-priv-150"]


def snmp_env(d: Path, who: str) -> dict[str, str]:
    """Net-SNMP's persistent state (engine boots, ids) in the test's directory, not in
    /var/lib/snmp."""
    return {"SNMP_PERSISTENT_DIR": str(d / f"snmp-{who}"), "HOME": str(d)}


def snmptrapd(d: Path, ip: str, port: int) -> list[str]:
    """snmptrapd logging every trap and inform of community ``public`` or of the SNMPv3 user
    of SNMP_V3_USER (SHA, AES)."""
    (d / "snmptrapd.conf").write_text(
        'authCommunity log public\ncreateUser probe SHA "probe-auth-150" AES "probe-priv-150"\n'
        "authUser log probe\n")
    return ["snmptrapd", "-f", "-Lo", "-C", "-c", str(d / "snmptrapd.conf"),
            "-p", str(d / "snmptrapd.pid"), f"udp:{ip}:{port}"]


# --------------------------------------------------------------------------- RADIUS

def freeradius(d: Path, ip: str, port: int) -> list[str]:
    """FreeRADIUS from a copy of Debian's configuration: one site (authentication on
    ``port``, accounting on ``port`` + 1, PAP against a users file), run as root."""
    raddb = d / "raddb"
    subprocess.run(["cp", "-a", "/etc/freeradius/3.0", str(raddb)], check=True, timeout=30)
    conf = raddb / "radiusd.conf"
    conf.write_text("".join(
        "#" + line if line.strip().startswith(("user = ", "group = ")) else line
        for line in conf.read_text().splitlines(keepends=True)))
    for site in (raddb / "sites-enabled").iterdir():
        site.unlink()
    (raddb / "mods-enabled" / "eap").unlink(missing_ok=True)  # needs the inner-tunnel site
    (raddb / "clients.conf").write_text(
        f"client probescan {{\n ipaddr = {ip.rsplit('.', 1)[0]}.0/24\n"
        f" secret = {RADIUS_SECRET}\n}}\n")
    users = raddb / "mods-config" / "files" / "authorize"
    users.unlink()
    users.write_text(f'{RADIUS_USER} Cleartext-Password := "{RADIUS_PASSWORD}"\n')
    listen = "".join(f" listen {{\n  type = {kind}\n  ipaddr = {ip}\n  port = {p}\n }}\n"
                     for kind, p in (("auth", port), ("acct", port + 1)))
    (raddb / "sites-enabled" / "probescan").write_text(
        f"server default {{\n{listen} authorize {{\n  files\n  pap\n }}\n"
        " authenticate {\n  pap\n }\n preacct {\n  ok\n }\n accounting {\n  ok\n }\n}\n")
    return ["freeradius", "-f", "-l", "stdout", "-d", str(raddb)]


# --------------------------------------------------------------------------- NetBIOS

def smb_conf(d: Path, name: str, ip: str) -> Path:
    """An smb.conf for nmbd (server) or nmblookup (client) on ``ip``/24 only."""
    state = d / name
    for sub in ("lock", "state", "cache", "private", "pid", "log", "ncalrpc"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.conf"
    path.write_text(
        f"[global]\nnetbios name = {name.upper()}\nworkgroup = PROBEGROUP\n"
        f"interfaces = {ip}/24\nbind interfaces only = yes\n"
        "local master = yes\npreferred master = yes\n"
        + "".join(f"{key} = {state / sub}\n" for key, sub in (
            ("lock directory", "lock"), ("state directory", "state"),
            ("cache directory", "cache"), ("private dir", "private"),
            ("pid directory", "pid"), ("ncalrpc dir", "ncalrpc")))
        + f"log file = {state / 'log' / 'nmbd.log'}\n")
    return path


# --------------------------------------------------------------------------- mDNS

def dbus_conf(d: Path) -> tuple[Path, dict[str, str]]:
    """A private system bus for one avahi-daemon and its clients: (config, environment)."""
    bus = d / "bus"
    path = d / "bus.conf"
    path.write_text(
        '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
        ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
        f"<busconfig><type>system</type><listen>unix:path={bus}</listen>"
        "<auth>EXTERNAL</auth><policy context=\"default\"><allow user=\"*\"/>"
        "<allow own=\"*\"/><allow send_destination=\"*\"/><allow receive_sender=\"*\"/>"
        "</policy></busconfig>\n")
    return path, {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}


def avahi(d: Path, host: str, dbus: bool) -> list[str]:
    """avahi-daemon publishing ``host``.local and its workstation service, IPv4 only, in a
    private mount namespace (its own /run: two daemons on one machine)."""
    conf = d / f"avahi-{host}.conf"
    conf.write_text(
        f"[server]\nhost-name={host}\ndomain-name=local\nuse-ipv4=yes\nuse-ipv6=no\n"
        f"enable-dbus={'yes' if dbus else 'no'}\n[wide-area]\nenable-wide-area=no\n"
        "[publish]\npublish-workstation=yes\npublish-hinfo=yes\n")
    daemon = f"exec avahi-daemon --no-chroot --no-drop-root --no-rlimits -f {conf}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount -t tmpfs probescan-avahi /run && {daemon}"]


# --------------------------------------------------------------------------- BitTorrent

def torrent(d: Path, tracker: str, size: int = 200_000) -> Path:
    """A random file in d/seed and its .torrent (transmission-create), announced to
    ``tracker`` (http://ip:port/announce)."""
    (d / "seed").mkdir()
    (d / "leech").mkdir()
    (d / "seed" / "probe.bin").write_bytes(os.urandom(size))
    out = d / "probe.torrent"
    subprocess.run(["transmission-create", "-o", str(out), "-t", tracker, "-s", "32",
                    str(d / "seed" / "probe.bin")], check=True, capture_output=True,
                   timeout=30)
    return out


def transmission(d: Path, name: str, ip: str, port: int, utp: bool, meta: Path,
                 dht: str | None = None) -> list[str]:
    """transmission-cli bound to ``ip:port``: no local discovery, PEX or port mapping (the
    tracker finds peers), plaintext preferred, uTP on or off; DHT only when ``dht`` names
    the node to bootstrap from ("ip port")."""
    cfg = d / f"cfg-{name}"
    cfg.mkdir()
    if dht is not None:
        (cfg / "dht.bootstrap").write_text(dht + "\n")
    (cfg / "settings.json").write_text(json.dumps({
        "dht-enabled": dht is not None, "lpd-enabled": False, "pex-enabled": False,
        "utp-enabled": utp, "port-forwarding-enabled": False, "bind-address-ipv4": ip,
        "bind-address-ipv6": "::1", "encryption": 0, "blocklist-enabled": False,
        "peer-port-random-on-start": False, "rpc-enabled": False, "message-level": 2}))
    return ["transmission-cli", "-g", str(cfg), "-p", str(port), "-et", "-M",
            "-w", str(d / name), str(meta)]


def _bencode(obj: int | bytes | dict[str, int | bytes]) -> bytes:
    if isinstance(obj, int):
        return b"i%de" % obj
    if isinstance(obj, bytes):
        return b"%d:%s" % (len(obj), obj)
    return b"d" + b"".join(_bencode(k.encode()) + _bencode(v) for k, v in sorted(obj.items())) \
        + b"e"


def tracker(ip: str, port: int) -> None:
    """An HTTP tracker: each announce is answered with every other peer seen (compact)."""
    peers: dict[tuple[str, int], None] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path != "/announce" or "port" not in query:
                self.send_error(404)
                return
            me = (self.client_address[0], int(query["port"][0]))
            peers[me] = None
            print("announce", *me, flush=True)
            body = _bencode({"interval": 5, "peers": b"".join(
                socket.inet_aton(a) + p.to_bytes(2, "big") for a, p in peers if (a, p) != me)})
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    http.server.HTTPServer((ip, port), Handler).serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["tracker"] and len(sys.argv) == 4:
        tracker(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python3 -m tests.watch.debian_setup tracker IP PORT")
