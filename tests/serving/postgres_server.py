"""A throwaway PostgreSQL for one test: own free port, own data dir, restartable and pausable.

    with PostgresServer() as pg:             # initdb'd, started, accepting connections
        pg.url                               # postgresql+psycopg://postgres@127.0.0.1:<port>/postgres
        pg.restart()                         # fast shutdown, then start again (same data)
        pg.pause(); pg.resume()              # SIGSTOP / SIGCONT every process of the server

The shared PostgreSQL on 5432 is never touched. PostgreSQL refuses to run as root: when the tests
run as root, the server runs as the `postgres` user, in a data dir under /tmp it owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from flightpath.processes import free_port
from tests.conftest import unavailable


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # Debian keeps them off PATH
    if not versions:
        unavailable("PostgreSQL's initdb is not installed; install PostgreSQL to run this test")
    return Path(versions[-1]).parent


class PostgresServer:
    def __init__(self, port: int | None = None, start_timeout_s: float = 30.0) -> None:
        self.bin = _bin_dir()
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.root = Path(tempfile.mkdtemp(prefix="flightpath-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no `postgres` user to run PostgreSQL as")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=2"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if not self.data.exists():
            subprocess.run(
                [
                    *self._as,
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
                check=True,
                capture_output=True,
            )
        args = ["-D", str(self.data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1"]
        args += ["-c", f"unix_socket_directories={self.root}", "-c", "logging_collector=off"]
        log = (self.root / "postgres.log").open("ab")
        # Own session: the postmaster and its backends form one process group to pause or kill.
        self.proc = subprocess.Popen(
            [*self._as, str(self.bin / "postgres"), *args], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                with psycopg.connect(self._dsn()):
                    return
            except psycopg.OperationalError:
                assert self.proc.poll() is None, f"postgres exited:\n{self.log_tail()}"
                assert time.monotonic() < deadline, f"postgres not accepting connections:\n{self.log_tail()}"
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open connections are cut, as in a real restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP the whole server: connections stay open, nothing answers (a hung database)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self._dsn()) as conn:
            return conn.execute(sql, params).fetchall()

    def log_tail(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
