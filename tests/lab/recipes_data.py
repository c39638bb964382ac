"""How to prepare and run the TCP lab's caches, databases, broker, directory, proxy and XMPP
servers (Debian 12).

Each recipe writes a private configuration into the server's fresh directory and returns how
to launch it. The command lines were checked by hand on Debian 12 (see the team notes on real
servers). No pytest dependency here.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.lab.process import (
    _chown,
    _is_root,
    _Launch,
    _pg_bin,
    _run,
    _user_exists,
    _which,
    _write,
)


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
