"""A throwaway PostgreSQL server for tests and benchmarks: a cluster made
with ``initdb`` in a temporary directory and run with ``pg_ctl``, listening
on a Unix socket in that directory only (no TCP port).

PostgreSQL refuses to run as root; under root the cluster belongs to the
``postgres`` account (Debian's package makes it), else ``nobody``, else a
system account made for it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from typing import Any, Optional

#: The port number (it only names the socket file: nothing listens on TCP).
PORT = 5432
SUPERUSER = "atomr"


def find_bin_dir() -> Optional[str]:
    """The directory holding initdb, pg_ctl, postgres and psql (Debian keeps
    them in /usr/lib/postgresql/<version>/bin), or None."""
    def version(path: str) -> int:
        part = path.split("/")[4]
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return os.path.dirname(candidates[-1])
    found = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(found)) if found else None


def _server_account() -> Optional[pwd.struct_passwd]:
    """The account to run the server as: None when this process is not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "atomr-pg"], check=True, capture_output=True)
    return pwd.getpwnam("atomr-pg")


def _parent_dir(account: Optional[pwd.struct_passwd]) -> str:
    """Where to make the cluster's directory: the temporary directory, unless
    the server's account could not reach it or the socket path would be too
    long for a Unix socket; then /tmp."""
    parent = tempfile.gettempdir()
    if len(parent) > 60:
        return "/tmp"
    if account is not None:
        path = os.path.realpath(parent)
        while True:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return "/tmp"
            if path == "/":
                break
            path = os.path.dirname(path)
    return parent


class TemporaryCluster:
    """A PostgreSQL cluster in a temporary directory.

    ``start()`` runs initdb (once) and starts the server; ``stop()`` stops
    it (``mode="immediate"`` kills it as a crash would); ``cleanup()`` stops
    it and deletes the directory. :meth:`dsn` names a database on it.
    """

    def __init__(self, bin_dir: Optional[str] = None) -> None:
        bin_dir = bin_dir or find_bin_dir()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL's initdb was not found (install `postgresql`)")
        self.bin_dir = bin_dir
        self.account = _server_account()
        self.base = tempfile.mkdtemp(prefix="atomr-pg-", dir=_parent_dir(self.account))
        os.chmod(self.base, 0o700)
        if self.account is not None:
            os.chown(self.base, self.account.pw_uid, self.account.pw_gid)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")
        self._initialised = False
        self.running = False

    def _run(self, *args: str, check: bool = True, timeout: float = 120.0) -> Any:
        kwargs: dict[str, Any] = {}
        if self.account is not None:
            kwargs.update(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
               "HOME": self.base}
        result = subprocess.run([os.path.join(self.bin_dir, args[0]), *args[1:]], cwd=self.base,
                                env=env, capture_output=True, text=True, timeout=timeout,
                                **kwargs)
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}{self.server_log()}")
        return result

    def server_log(self) -> str:
        try:
            with open(self.log) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        """Creates the cluster on first use, then starts the server and waits
        until it accepts connections."""
        if not self._initialised:
            self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
                conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.base}'\n"
                           f"port = {PORT}\nmax_connections = 200\nshared_buffers = 64MB\n"
                           f"logging_collector = off\n")
            self._initialised = True
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "120", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (`mode`: ``fast`` or ``immediate``)."""
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "120", "stop",
                      check=False)
            self.running = False

    def cleanup(self) -> None:
        """Stops the server and deletes the cluster's directory."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URI of `database` on this server."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.base}&port={PORT}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs `sql` with psql; returns its unaligned output."""
        return self._run("psql", "-h", self.base, "-p", str(PORT), "-U", SUPERUSER, "-d",
                         database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c",
                         sql).stdout.strip()
