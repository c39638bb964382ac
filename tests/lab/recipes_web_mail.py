"""How to prepare and run the TCP lab's login, web, FTP and mail servers (Debian 12).

Each recipe writes a private configuration into the server's fresh directory and returns how
to launch it. The command lines were checked by hand on Debian 12 (see the team notes on real
servers). No pytest dependency here.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from tests.lab.process import _chown, _Launch, _Prepare, _run, _which, _write
from tests.lab.tls import _self_signed


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
