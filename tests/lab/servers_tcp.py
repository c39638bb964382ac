"""The TCP lab's servers: each kind, what probescan should call it, and where it runs.

:data:`KINDS` names every kind of server (its recipe is in tests/lab/recipes_*.py),
:data:`DEFAULT_LAB` where each one runs, and ``available()`` whether it can start here.
ssh, postfix, dovecot, prosody and ports below 1024 need root; as another user
``available()`` reports them unavailable and the other servers run as that user.
No pytest dependency here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.lab.process import _is_root, _pg_bin, _Prepare, _user_exists, _which
from tests.lab.recipes_data import (
    _mariadb,
    _memcached,
    _mosquitto,
    _postgresql,
    _prosody,
    _redis,
    _slapd,
    _squid,
)
from tests.lab.recipes_web_mail import _dovecot, _lighttpd, _nginx, _postfix, _ssh, _vsftpd


@dataclass(frozen=True)
class Service:
    """One running lab server, and what probescan should call it."""

    name: str  # the lab kind that was started, e.g. "nginx-https"
    ip: str
    port: int
    service: str  # expected probescan service name, e.g. "http"
    product: str | None  # expected product, e.g. "nginx"
    tls: bool = False  # the service speaks TLS first (nmap's "ssl/" tunnel)


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
