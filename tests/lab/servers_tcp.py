"""A lab of real Debian servers on loopback addresses, for tests and benchmarks.

Each server runs from a fresh temporary directory, in its own process group, bound to
one 127.x address and port. ``Lab.start(kind, ip, port)`` returns once the TCP port
accepts connections (or raises :class:`LabError` with the tail of the server's logs);
``Lab.stop_all()`` (or leaving the ``with`` block) stops everything and removes the
temporary directories.

``python -m tests.lab`` starts :data:`DEFAULT_LAB`, prints one line per service
(``ip port service product``) and waits for Ctrl-C.

ssh, postfix, dovecot, prosody and ports below 1024 need root; as another user
``available()`` reports them unavailable and the other servers run as that user.
Recipes follow the command lines that were checked by hand on Debian 12 (see the team notes
on real servers); no pytest dependency here.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "DEFAULT_LAB",
    "KINDS",
    "Lab",
    "LabError",
    "Service",
    "available",
    "start_default_lab",
]

READY_TIMEOUT = 20.0  # seconds for a started server to accept TCP connections
SETUP_TIMEOUT = 120.0  # seconds for one preparation command (initdb, install-db, ...)
STOP_TIMEOUT = 10.0  # seconds for a server to exit after its stop signal
LOG_TAIL = 40  # lines of each log quoted in a LabError

_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LabError(RuntimeError):
    """A lab server could not be prepared, started or reached."""


@dataclass(frozen=True)
class Service:
    """One running lab server, and what probescan should call it."""

    name: str  # the lab kind that was started, e.g. "nginx-https"
    ip: str
    port: int
    service: str  # expected probescan service name, e.g. "http"
    product: str | None  # expected product, e.g. "nginx"
    tls: bool = False  # the service speaks TLS first (nmap's "ssl/" tunnel)


# --------------------------------------------------------------------------- helpers


def _is_root() -> bool:
    return os.geteuid() == 0


def _which(name: str) -> str | None:
    if name.startswith("/"):
        return name if os.access(name, os.X_OK) else None
    path = os.environ.get("PATH", os.defpath)
    extra = [d for d in _EXTRA_PATH if d not in path.split(os.pathsep)]
    return shutil.which(name, path=os.pathsep.join([path, *extra]))


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary from the newest /usr/lib/postgresql/N/bin."""
    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def major(p: str) -> int:
        part = p.split("/")[4]
        return int(part) if part.isdigit() else 0

    return max(found, key=major) if found else None


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


def _port_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run(argv: list[str], log: Path, *, user: str | None = None, cwd: Path | None = None) -> None:
    """Run a preparation command, appending its output to ``log``; raise LabError on failure."""
    with log.open("ab") as out:
        out.write(("$ " + shlex.join(argv) + "\n").encode())
        out.flush()
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                timeout=SETUP_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"{argv[0]}: {exc}\n{_tail(log)}") from exc
    if proc.returncode != 0:
        raise LabError(f"{shlex.join(argv)} exited with {proc.returncode}\n{_tail(log)}")


def _leader_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process has exited, without reaping it (so its pgid stays reserved)."""
    if proc.returncode is not None:
        return True
    try:
        res = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return res is not None


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --------------------------------------------------------------------------- recipes


@dataclass
class _Launch:
    """How to run one prepared server."""

    argv: list[str]
    logs: list[Path] = field(default_factory=list)  # extra logs quoted on failure
    user: str | None = None  # run as this user (needs root)
    stop_argv: list[str] | None = None  # run before signalling (postfix)
    stop_signal: int = signal.SIGTERM
    pidfiles: list[Path] = field(default_factory=list)  # detached leaders to kill too
    env: dict[str, str] | None = None


_Prepare = Callable[[Path, str, int, Path], _Launch]  # (dir, ip, port, setup log)


def _ssh(d: Path, ip: str, port: int, log: Path) -> _Launch:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    key = d / "ssh_host_ed25519_key"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "probescan-lab", "-f", str(key)],
         log)
    sshd = _which("sshd") or "/usr/sbin/sshd"
    return _Launch([
        sshd, "-D", "-e", "-f", "/dev/null", "-h", str(key),
        "-o", f"ListenAddress={ip}:{port}", "-o", f"PidFile={d / 'sshd.pid'}",
    ])


def _www(d: Path, title: str) -> Path:
    www = d / "www"
    _write(www / "index.html",
           f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
           f"<body><h1>{title}</h1></body></html>\n")
    return www


def _self_signed(d: Path, cn: str, log: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
          "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)], log)
    return cert, key


def _nginx(tls: bool) -> _Prepare:
    def prepare(d: Path, ip: str, port: int, log: Path) -> _Launch:
        d.chmod(0o755)  # workers run as nobody
        www = _www(d, "probescan lab nginx")
        ssl = ""
        if tls:
            cert, key = _self_signed(d, "probescan-lab.test", log)
            ssl = f"ssl_certificate {cert};\n        ssl_certificate_key {key};"
        temps = "\n    ".join(
            f"{t}_temp_path {d / (t + '_temp')};"
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = _write(d / "nginx.conf", f"""\
daemon off;
master_process on;
worker_processes 1;
pid {d / 'nginx.pid'};
error_log {d / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    default_type text/html;
    {temps}
    server {{
        listen {ip}:{port}{' ssl' if tls else ''};
        server_name probescan-lab.test;
        {ssl}
        root {www};
        index index.html;
    }}
}}
""")
        nginx = _which("nginx") or "nginx"
        return _Launch([nginx, "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)],
                       logs=[d / "error.log"], stop_signal=signal.SIGQUIT)
    return prepare


def _lighttpd(d: Path, ip: str, port: int, log: Path) -> _Launch:
    www = _www(d, "probescan lab lighttpd")
    conf = _write(d / "lighttpd.conf", f"""\
server.bind = "{ip}"
server.port = {port}
server.document-root = "{www}"
server.errorlog = "{d / 'error.log'}"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
""")
    return _Launch([_which("lighttpd") or "lighttpd", "-D", "-f", str(conf)],
                   logs=[d / "error.log"])


def _vsftpd(d: Path, ip: str, port: int, log: Path) -> _Launch:
    empty = d / "empty"
    empty.mkdir(mode=0o755)
    (d / "ftp").mkdir(mode=0o755)
    conf = _write(d / "vsftpd.conf", f"""\
listen=YES
listen_ipv6=NO
listen_address={ip}
listen_port={port}
background=NO
anonymous_enable=YES
anon_root={d / 'ftp'}
local_enable=NO
write_enable=NO
run_as_launching_user=YES
secure_chroot_dir={empty}
xferlog_enable=NO
vsftpd_log_file={d / 'vsftpd.log'}
""", mode=0o600)
    return _Launch([_which("vsftpd") or "vsftpd", str(conf)], logs=[d / "vsftpd.log"])


_POSTFIX_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _postfix(d: Path, ip: str, port: int, log: Path) -> _Launch:
    # A private instance: own config directory, queue and data directories, nothing
    # chrooted, so it neither needs nor disturbs /etc/postfix or /var/spool/postfix.
    # As root, `postfix -c DIR` needs no alternate_config_directories entry.
    d.chmod(0o755)
    conf = d / "conf"
    conf.mkdir()
    for name in ("dynamicmaps.cf", "postfix-files"):
        if Path("/etc/postfix", name).exists():
            shutil.copy(Path("/etc/postfix", name), conf / name)
    for sub in ("dynamicmaps.cf.d", "postfix-files.d"):
        if Path("/etc/postfix", sub).is_dir():
            shutil.copytree(Path("/etc/postfix", sub), conf / sub)
    (d / "queue").mkdir(mode=0o755)
    (d / "data").mkdir(mode=0o700)
    _chown(d / "data", "postfix")
    _write(conf / "main.cf", f"""\
compatibility_level = 3.6
myhostname = probescan-lab.test
mydestination =
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
inet_interfaces = all
inet_protocols = ipv4
queue_directory = {d / 'queue'}
data_directory = {d / 'data'}
meta_directory = {conf}
maillog_file_prefixes = /var, /dev/stdout, {d}
maillog_file = {d / 'postfix.log'}
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks defer_unauth_destination
mynetworks = 127.0.0.0/8
""")
    _write(conf / "master.cf",
           f"{ip}:{port} inet n - n - - smtpd\n" + _POSTFIX_SERVICES)
    postfix = _which("postfix") or "/usr/sbin/postfix"
    return _Launch(
        [postfix, "-c", str(conf), "start-fg"],
        logs=[d / "postfix.log"],
        stop_argv=[postfix, "-c", str(conf), "stop"],
        pidfiles=[d / "queue" / "pid" / "master.pid"],
    )


def _dovecot(protocol: str) -> _Prepare:
    def prepare(d: Path, ip: str, port: int, log: Path) -> _Launch:
        d.chmod(0o755)
        (d / "run").mkdir(mode=0o755)
        (d / "state").mkdir(mode=0o750)
        (d / "home").mkdir(mode=0o1777)
        other = "pop3" if protocol == "imap" else "imap"
        conf = _write(d / "dovecot.conf", f"""\
protocols = {protocol}
listen = {ip}
base_dir = {d / 'run'}
state_dir = {d / 'state'}
instance_name = probescan-lab-{protocol}-{port}
log_path = {d / 'dovecot.log'}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password=lab
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d / 'home'}/%u
}}
service {protocol}-login {{
  inet_listener {protocol} {{
    address = {ip}
    port = {port}
  }}
  inet_listener {protocol}s {{
    port = 0
  }}
}}
service {other}-login {{
  inet_listener {other} {{
    port = 0
  }}
  inet_listener {other}s {{
    port = 0
  }}
}}
""")
        return _Launch([_which("dovecot") or "dovecot", "-F", "-c", str(conf)],
                       logs=[d / "dovecot.log"])
    return prepare


def _redis(d: Path, ip: str, port: int, log: Path) -> _Launch:
    return _Launch([
        _which("redis-server") or "redis-server", "--bind", ip, "--port", str(port),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
        "--dir", str(d), "--logfile", "",
    ])


def _memcached(d: Path, ip: str, port: int, log: Path) -> _Launch:
    argv = [_which("memcached") or "memcached", "-l", ip, "-p", str(port), "-U", "0"]
    if _is_root():
        argv += ["-u", "memcache" if _user_exists("memcache") else "root"]
    return _Launch(argv)


def _mariadb(d: Path, ip: str, port: int, log: Path) -> _Launch:
    data = d / "data"
    install = _which("mariadb-install-db") or _which("mysql_install_db") or "mariadb-install-db"
    user = ["--user=root"] if _is_root() else []  # otherwise: the current user
    _run([install, "--no-defaults", f"--datadir={data}", *user,
          "--auth-root-authentication-method=normal", "--skip-test-db"], log, cwd=d)
    # A user that may connect from anywhere: clients on 127.x arrive from 127.0.0.1, which
    # the default root@localhost grant may refuse before the greeting.
    init = _write(d / "init.sql",
                  "CREATE USER IF NOT EXISTS 'lab'@'%' IDENTIFIED BY 'lab';\n"
                  "GRANT ALL ON *.* TO 'lab'@'%';\n")
    server = _which("mariadbd") or _which("mysqld") or "mariadbd"
    return _Launch([
        server, "--no-defaults", f"--datadir={data}", f"--bind-address={ip}",
        f"--port={port}", f"--socket={d / 'mysqld.sock'}", f"--pid-file={d / 'mysqld.pid'}",
        f"--log-error={d / 'mysqld.err'}", f"--init-file={init}", *user,
        "--skip-log-bin", "--innodb-buffer-pool-size=16M",
    ], logs=[d / "mysqld.err"])


def _postgresql(d: Path, ip: str, port: int, log: Path) -> _Launch:
    # PostgreSQL refuses to run as root: as root, run it as the postgres user.
    user = "postgres" if _is_root() else None
    if user:
        _chown(d, user)
        _chown(log, user)
    initdb = _pg_bin("initdb") or "initdb"
    _run([initdb, "-D", str(d / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
          "--locale=C", "--no-sync"], log, user=user, cwd=d)
    return _Launch(
        [_pg_bin("postgres") or "postgres", "-D", str(d / "data"), "-h", ip, "-p", str(port),
         "-k", str(d)],
        user=user, stop_signal=signal.SIGINT,
    )


def _mosquitto(d: Path, ip: str, port: int, log: Path) -> _Launch:
    conf = _write(d / "mosquitto.conf", f"""\
per_listener_settings false
listener {port} {ip}
allow_anonymous true
persistence false
log_dest stderr
""")
    return _Launch([_which("mosquitto") or "mosquitto", "-c", str(conf)])


def _slapd(d: Path, ip: str, port: int, log: Path) -> _Launch:
    # A private slapd.conf and database rather than the system /etc/ldap/slapd.d.
    (d / "db").mkdir(mode=0o700)
    conf = _write(d / "slapd.conf", f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d / 'slapd.pid'}
argsfile {d / 'slapd.args'}
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "dc=probescan,dc=test"
rootdn "cn=admin,dc=probescan,dc=test"
rootpw lab
directory {d / 'db'}
""")
    return _Launch([_which("slapd") or "slapd", "-d", "0", "-h", f"ldap://{ip}:{port}/",
                    "-f", str(conf)])


def _squid(d: Path, ip: str, port: int, log: Path) -> _Launch:
    d.chmod(0o755)
    user = ""
    if _is_root() and _user_exists("proxy"):
        _chown(d, "proxy")
        user = "cache_effective_user proxy\n"
    conf = _write(d / "squid.conf", f"""\
http_port {ip}:{port}
visible_hostname probescan-lab.test
{user}pid_filename {d / 'squid.pid'}
cache_log {d / 'cache.log'}
access_log none
cache_store_log none
netdb_filename none
coredump_dir {d}
cache deny all
http_access allow all
shutdown_lifetime 1 seconds
""")
    return _Launch([_which("squid") or "squid", "-N", "-f", str(conf)],
                   logs=[d / "cache.log"])


def _prosody(d: Path, ip: str, port: int, log: Path) -> _Launch:
    d.chmod(0o755)
    (d / "data").mkdir(mode=0o750)
    _chown(d / "data", "prosody")
    conf = _write(d / "prosody.cfg.lua", f"""\
pidfile = "{d / 'prosody.pid'}"
data_path = "{d / 'data'}"
interfaces = {{ "{ip}" }}
local_interfaces = {{ "{ip}" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
component_ports = {{ }}
c2s_require_encryption = false
s2s_require_encryption = false
authentication = "internal_hashed"
modules_enabled = {{ "roster", "saslauth", "disco", "ping", "time", "version" }}
modules_disabled = {{ "admin_shell", "posix" }}
log = {{ info = "*console" }}
VirtualHost "localhost"
""")
    return _Launch([_which("prosody") or "prosody", "-F", "--config", str(conf)],
                   user="prosody", env={"HOME": str(d)})


@dataclass(frozen=True)
class _Kind:
    service: str
    product: str | None
    binaries: tuple[str, ...]  # each must be found (a "|" separates alternatives)
    prepare: _Prepare
    users: tuple[str, ...] = ()  # system users the recipe needs (when root)
    tls: bool = False
    root: bool = False  # cannot run without root


KINDS: dict[str, _Kind] = {
    "ssh": _Kind("ssh", "OpenSSH", ("sshd", "ssh-keygen"), _ssh, root=True),
    "nginx": _Kind("http", "nginx", ("nginx",), _nginx(tls=False)),
    "nginx-https": _Kind("http", "nginx", ("nginx", "openssl"), _nginx(tls=True), tls=True),
    "lighttpd": _Kind("http", "lighttpd", ("lighttpd",), _lighttpd),
    "vsftpd": _Kind("ftp", "vsftpd", ("vsftpd",), _vsftpd),
    "postfix": _Kind("smtp", "Postfix", ("postfix",), _postfix, users=("postfix",),
                     root=True),
    "dovecot-imap": _Kind("imap", "Dovecot", ("dovecot",), _dovecot("imap"),
                          users=("dovecot", "dovenull"), root=True),
    "dovecot-pop3": _Kind("pop3", "Dovecot", ("dovecot",), _dovecot("pop3"),
                          users=("dovecot", "dovenull"), root=True),
    "redis": _Kind("redis", "Redis", ("redis-server",), _redis),
    "memcached": _Kind("memcached", "memcached", ("memcached",), _memcached),
    "mariadb": _Kind("mysql", "MariaDB", ("mariadbd|mysqld",
                                          "mariadb-install-db|mysql_install_db"), _mariadb),
    "postgresql": _Kind("postgresql", "PostgreSQL", ("pg:initdb", "pg:postgres"), _postgresql,
                        users=("postgres",)),
    "mosquitto": _Kind("mqtt", "Mosquitto", ("mosquitto",), _mosquitto),
    "slapd": _Kind("ldap", "OpenLDAP", ("slapd",), _slapd),
    "squid": _Kind("http-proxy", "Squid", ("squid",), _squid),
    "prosody": _Kind("xmpp", "Prosody", ("prosody",), _prosody, users=("prosody",),
                        root=True),
}

# One entry per server: (kind, ip, port). Each has its own 127.0.10.x address (never
# 127.0.0.1, where the machine may run its own servers); most use unusual ports, a few
# (ssh, nginx, redis, memcached on .101-.104) their standard one.
DEFAULT_LAB: list[tuple[str, str, int]] = [
    ("ssh", "127.0.10.1", 2222),
    ("nginx", "127.0.10.2", 18080),
    ("nginx-https", "127.0.10.3", 18443),
    ("lighttpd", "127.0.10.4", 18081),
    ("vsftpd", "127.0.10.5", 2121),
    ("postfix", "127.0.10.6", 2525),
    ("dovecot-imap", "127.0.10.7", 1143),
    ("dovecot-pop3", "127.0.10.8", 1110),
    ("redis", "127.0.10.9", 16379),
    ("memcached", "127.0.10.10", 11311),
    ("mariadb", "127.0.10.11", 13306),
    ("postgresql", "127.0.10.12", 15432),
    ("mosquitto", "127.0.10.13", 11883),
    ("slapd", "127.0.10.14", 1389),
    ("squid", "127.0.10.15", 13128),
    ("prosody", "127.0.10.16", 15222),
    ("ssh", "127.0.10.101", 22),
    ("nginx", "127.0.10.102", 80),
    ("redis", "127.0.10.103", 6379),
    ("memcached", "127.0.10.104", 11211),
]


def available(kind: str, port: int | None = None) -> str | None:
    """None when ``kind`` can be started here, else the reason it cannot (for a skip)."""
    spec = KINDS.get(kind)
    if spec is None:
        return f"unknown lab server kind {kind!r}"
    if spec.root and not _is_root():
        return f"{kind}: needs root"
    if port is not None and port < 1024 and not _is_root():
        return f"{kind}: port {port} needs root"
    for binary in spec.binaries:
        if binary.startswith("pg:"):
            if _pg_bin(binary[3:]) is None:
                return f"{kind}: /usr/lib/postgresql/*/bin/{binary[3:]} not found"
        elif not any(_which(alt) for alt in binary.split("|")):
            return f"{kind}: {binary.replace('|', ' or ')} not found (scripts/install-test-deps)"
    for user in spec.users if _is_root() else ():
        if not _user_exists(user):
            return f"{kind}: system user {user!r} missing"
    return None


# --------------------------------------------------------------------------- the lab


@dataclass
class _Running:
    service: Service
    dir: Path
    proc: subprocess.Popen[bytes]
    launch: _Launch
    log: Path


class Lab:
    """Starts lab servers and stops every one of them on ``stop_all`` or on exit."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._root = Path(root) if root is not None else None
        self._lock = threading.Lock()
        self._running: list[_Running] = []
        self.failures: dict[tuple[str, str, int], str] = {}  # filled by start_default_lab
        atexit.register(self.stop_all)  # a safety net if the owner forgets or crashes

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    @property
    def services(self) -> list[Service]:
        with self._lock:
            return [r.service for r in self._running]

    def start(self, kind: str, ip: str, port: int) -> Service:
        """Start ``kind`` on ip:port and return once the port accepts connections."""
        reason = available(kind, port)
        if reason is not None:
            raise LabError(reason)
        spec = KINDS[kind]
        if not 0 < port < 65536:
            raise LabError(f"{kind}: invalid port {port}")
        if _port_open(ip, port, timeout=0.3):
            raise LabError(f"{kind}: something already accepts connections on {ip}:{port}")
        d = Path(tempfile.mkdtemp(prefix=f"probescan-lab-{kind}-{port}-", dir=self._root))
        log = d / "server.log"
        try:
            log.touch()
            launch = spec.prepare(d, ip, port, log)
            proc = self._spawn(launch, log, d)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        service = Service(kind, ip, port, spec.service, spec.product, spec.tls)
        running = _Running(service, d, proc, launch, log)
        with self._lock:
            self._running.append(running)
        try:
            self._wait_ready(running)
        except BaseException:
            self.stop(service)
            raise
        return service

    def stop(self, service: Service) -> None:
        with self._lock:
            found = [r for r in self._running if r.service == service]
            self._running = [r for r in self._running if r.service != service]
        for running in found:
            _stop(running)

    def stop_all(self) -> None:
        """Stop every server this lab started (in parallel) and remove their directories."""
        with self._lock:
            running, self._running = self._running, []
        if not running:
            return
        with ThreadPoolExecutor(max_workers=len(running)) as pool:
            list(pool.map(_stop, reversed(running)))

    @staticmethod
    def _spawn(launch: _Launch, log: Path, d: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(launch.env or {})
        env["PATH"] = os.pathsep.join([env.get("PATH", os.defpath), *_EXTRA_PATH])
        user = launch.user
        with log.open("ab") as out:
            out.write(("$ " + shlex.join(launch.argv) + "\n").encode())
            out.flush()
            try:
                return subprocess.Popen(
                    launch.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=d,
                    env=env,
                    start_new_session=True,
                    user=user,
                    group=pwd.getpwnam(user).pw_gid if user else None,
                    extra_groups=[] if user else None,
                )
            except OSError as exc:
                raise LabError(f"{launch.argv[0]}: {exc}") from exc

    @staticmethod
    def _wait_ready(running: _Running) -> None:
        svc = running.service
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if _port_open(svc.ip, svc.port, timeout=0.5):
                return
            if _leader_exited(running.proc):
                problem = "exited before accepting connections"
                break
            if time.monotonic() >= deadline:
                problem = f"did not accept connections within {READY_TIMEOUT:.0f} s"
                break
            time.sleep(0.05)
        raise LabError(f"{svc.name} on {svc.ip}:{svc.port} {problem}\n{_logs(running)}")


def _logs(running: _Running) -> str:
    parts = []
    for path in [running.log, *running.launch.logs]:
        tail = _tail(path)
        if tail:
            parts.append(f"--- {path.name}\n{tail}")
    return "\n".join(parts) or "(no log output)"


def _stop(running: _Running) -> None:
    proc, launch = running.proc, running.launch
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    try:
        detached = _detached_leaders(launch)  # before stop_argv removes the pid files
        if launch.stop_argv is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    launch.stop_argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=STOP_TIMEOUT,
                    check=False,
                )
        _killpg(pgid, launch.stop_signal)
        for leader in detached:
            if leader.still_there():
                _killpg(leader.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and (
            not _leader_exited(proc) or any(leader.still_there() for leader in detached)
        ):
            time.sleep(0.05)
        # The unreaped leader keeps the group id reserved, so this cannot hit a stranger.
        _killpg(pgid, signal.SIGKILL)
        proc.wait()
        for leader in detached:
            if leader.still_there():
                _killpg(leader.pid, signal.SIGKILL)
    finally:
        shutil.rmtree(running.dir, ignore_errors=True)


@dataclass(frozen=True)
class _Detached:
    """A process group leader that left our group (postfix's master calls setsid)."""

    pid: int
    cmdline: bytes

    def still_there(self) -> bool:
        """The same process (not a recycled pid) is alive and still leads its group."""
        try:
            return _cmdline(self.pid) == self.cmdline and os.getpgid(self.pid) == self.pid
        except OSError:
            return False


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _detached_leaders(launch: _Launch) -> list[_Detached]:
    leaders = []
    for pidfile in launch.pidfiles:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().split()[0])
            if pid > 1 and os.getpgid(pid) == pid:
                leaders.append(_Detached(pid, _cmdline(pid)))
    return leaders


def start_default_lab(
    lab: Lab, entries: list[tuple[str, str, int]] | None = None
) -> list[Service]:
    """Start every entry (default: DEFAULT_LAB) in parallel; return the ones that run.

    Entries that cannot start are recorded in ``lab.failures`` (key (kind, ip, port),
    value the reason) instead of raising.
    """
    todo = list(DEFAULT_LAB if entries is None else entries)

    def one(entry: tuple[str, str, int]) -> Service | None:
        try:
            return lab.start(*entry)
        except LabError as exc:
            lab.failures[entry] = str(exc)
        except Exception as exc:  # a broken recipe should not take the whole lab down
            lab.failures[entry] = f"{type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        results = list(pool.map(one, todo))
    return [svc for svc in results if svc is not None]


def _iter_lines(services: list[Service]) -> Iterator[str]:
    for svc in services:
        product = svc.product or "-"
        tunnel = " (tls)" if svc.tls else ""
        yield f"{svc.ip} {svc.port} {svc.service} {product}{tunnel}"


def main() -> int:
    started = time.monotonic()
    with Lab() as lab:
        services = start_default_lab(lab)
        for line in _iter_lines(services):
            print(line, flush=True)
        for (kind, ip, port), reason in lab.failures.items():
            first = reason.splitlines()[0] if reason else ""
            print(f"# FAILED {kind} {ip} {port}: {first}", file=sys.stderr, flush=True)
        print(f"# {len(services)}/{len(services) + len(lab.failures)} services up in "
              f"{time.monotonic() - started:.1f} s; Ctrl-C to stop", file=sys.stderr, flush=True)
        # Ctrl-C, SIGTERM or SIGHUP stop the lab; set explicitly because a shell starts
        # background jobs with SIGINT ignored.
        stop = threading.Event()
        stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in stops}
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            print("# stopping", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
