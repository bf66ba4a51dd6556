"""A throwaway PostgreSQL cluster for fault tests: its own data directory, a free
loopback port, its unix socket in its own directory, so restarting it never touches the
machine's cluster (which other test runs use).

initdb and postgres refuse to run as root; as root the commands run as the `postgres`
user (runuser), in a temp directory that user owns. Needs the PostgreSQL server binaries
(`initdb`, `pg_ctl`): `PgCluster.available()` says whether they are there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from helpers.procs import free_port

_SEARCH = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _binary(name: str) -> str | None:
    for directory in _SEARCH:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


class PgCluster:
    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tollgate-pg-"))
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            _binary("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    @staticmethod
    def available() -> bool:
        if not (_binary("initdb") and _binary("pg_ctl")):
            return False
        if os.geteuid() == 0:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return False
            return shutil.which("runuser") is not None
        return True

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str | None, check: bool = True) -> subprocess.CompletedProcess:
        command = [a for a in argv if a is not None]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command,
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        # Loopback only; fsync off: a test cluster is thrown away, speed matters.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash."""
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            "30",
            "stop",
            check=False,
        )

    def restart(self, down_for: float = 0.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
