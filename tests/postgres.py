"""A throw-away PostgreSQL server for the tests: a new cluster in a temporary folder, on a
free port, run by the system user `postgres` (the server refuses to run as root), stopped
and removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Server:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://crm@127.0.0.1:{self.port}/shop"

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """A server program as the user that owns the cluster."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=True, cwd="/"
        )

    def start(self) -> None:
        self.run(
            str(BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-l",
            str(self.folder / "server.log"), "-w", "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip

    def kill(self) -> None:
        """Stop at once, as a crash would: connections break mid-query."""
        self.run(str(BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(password: str) -> Iterator[Server]:
    """A running server with a database `shop` owned by user `crm` (password `password`).
    Its folder is in the system's temporary folder, which the user postgres can reach."""
    folder = Path(tempfile.mkdtemp(prefix="crm-mart-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    server = Server(folder, free_port())
    pwfile = folder / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres")
    server.run(
        str(BIN / "initdb"), "-D", str(folder / "data"), "-U", "crm", "-A", "scram-sha-256",
        f"--pwfile={pwfile}", "--no-sync",
    )  # fmt: skip
    server.start()
    try:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "crm", "shop"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)
