"""A throwaway PostgreSQL server for tests and benchmarks, from the Debian packages.

Use::

    with PgServer() as pg:                 # initdb + pg_ctl in a temporary folder, ~3 s
        url = pg.new_database()            # postgresql://postgres@/db_1?host=/tmp/...
    # tests: the ``pg_server`` (session) and ``pg_url`` (fresh database) fixtures in conftest

The server listens on a Unix socket in its own folder only (no TCP port), runs as the
``postgres`` system user when started by root (initdb refuses root) and is stopped and
deleted on exit. ``fsync`` stays on unless ``fast=True`` (tests: nothing here must survive
a power cut). ``scripts/test-setup.sh`` installs the server packages where they are missing.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (run scripts/test-setup.sh)."""


def pg_bindir() -> Path:
    """The folder of initdb/pg_ctl: Debian's /usr/lib/postgresql/<n>/bin, else the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PgUnavailable("PostgreSQL server binaries not found (initdb); run "
                        "scripts/test-setup.sh or `apt-get install postgresql`")


class PgServer:
    """initdb + pg_ctl in a temporary folder; ``new_database()`` hands out empty databases."""

    def __init__(self, fast: bool = True, max_connections: int = 200) -> None:
        self.bindir = pg_bindir()
        self.fast = fast
        self.max_connections = max_connections
        self.dir: Path | None = None
        self._n = 0
        self._lock = threading.Lock()
        self._user: str | None = None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self) -> PgServer:
        self.dir = Path(tempfile.mkdtemp(prefix="pricing-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root needs the 'postgres' system user "
                                    "(apt-get install postgresql creates it)") from None
            self._user = "postgres"
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        r = self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if r.returncode:
            raise PgUnavailable(f"initdb failed: {r.stderr[-1500:]}")
        opts = [f"-k {self.dir}", "-c listen_addresses=''",
                f"-c max_connections={self.max_connections}", "-c shared_buffers=64MB"]
        if self.fast:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        r = self._run("pg_ctl", "-D", str(data), "-o", " ".join(opts), "-l",
                      str(self.dir / "server.log"), "-w", "-t", "60", "start")
        if r.returncode:
            log = (self.dir / "server.log")
            raise PgUnavailable(f"pg_ctl start failed: {r.stderr[-800:]} "
                                f"{log.read_text()[-800:] if log.exists() else ''}")
        return self

    def url(self, db: str = "postgres") -> str:
        assert self.dir is not None, "server not started"
        return f"postgresql://postgres@/{db}?host={self.dir}"

    def new_database(self, prefix: str = "db") -> str:
        """The URL of a new, empty database."""
        import psycopg

        with self._lock:
            self._n += 1
            name = f"{prefix}_{os.getpid()}_{self._n}"
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
