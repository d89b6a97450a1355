"""kinesis-mock (npm package ``kinesis-local``, the Kinesis engine LocalStack uses) on 127.0.0.1.

Unlike moto, kinesis-mock closes a parent shard when it is split or merged, so resharding can be shown.
It has no bind-address setting and listens on every interface; a small Node preload
(``local/kinesis_mock_loopback.js``) rewrites every ``listen`` call to bind 127.0.0.1 only. The package
is installed on first use with ``npm install --prefix .cache/kinesis-local`` (a git-ignored folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # nosec B404
from pathlib import Path

from local.postgres import free_port
from local.process import ServerProcess

__all__ = ["PACKAGE", "KinesisMock", "install", "installed", "listening_addresses"]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "kinesis-local@0.6.2"
CACHE = ROOT / ".cache" / "kinesis-local"
PRELOAD = Path(__file__).resolve().parent / "kinesis_mock_loopback.js"


def _main_js(cache: Path) -> Path:
    return cache / "node_modules" / "kinesis-local" / "main.js"


def installed(cache: Path = CACHE) -> bool:
    return _main_js(cache).exists()


def install(cache: Path = CACHE) -> Path:
    """The package's main.js, installed with npm into ``cache`` when missing; RuntimeError without Node/npm."""
    main = _main_js(cache)
    if main.exists():
        return main
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise RuntimeError("kinesis-mock needs Node.js and npm on PATH (apt-get install nodejs npm)")
    cache.mkdir(parents=True, exist_ok=True)
    # A fixed, pinned package name from the npm registry; nothing untrusted reaches the command line.
    subprocess.run(  # nosec B603
        [npm, "install", "--prefix", str(cache), PACKAGE, "--no-audit", "--no-fund", "--silent"],
        check=True,
        timeout=300,
    )
    if not main.exists():
        raise RuntimeError(f"npm installed {PACKAGE} but {main} is missing")
    return main


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if width == 8 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


class KinesisMock:
    """kinesis-mock's plain-HTTP endpoint on 127.0.0.1:``port`` (its TLS port too, also loopback only)."""

    def __init__(self, port: int = 4567, *, tls_port: int | None = None, cache: Path = CACHE) -> None:
        self.port = port
        self.tls_port = tls_port if tls_port is not None else free_port()
        self.cache = cache
        self._server = ServerProcess("kinesis-mock")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> KinesisMock:
        main = install(self.cache)
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("kinesis-mock needs Node.js (node) on PATH")
        env = {
            **os.environ,
            "KINESIS_MOCK_PLAIN_PORT": str(self.port),
            "KINESIS_MOCK_TLS_PORT": str(self.tls_port),
            "KINESIS_MOCK_CERT_PATH": str(main.parent / "server.json"),
            "AWS_ACCOUNT_ID": "123456789012",  # moto's account, so ARNs look alike on both engines
            "AWS_REGION": "us-east-1",
            "LOG_LEVEL": "WARN",
            "SHOULD_PERSIST_DATA": "false",
            "CREATE_STREAM_DURATION": "50ms",
            "DELETE_STREAM_DURATION": "50ms",
            "SPLIT_SHARD_DURATION": "50ms",
            "MERGE_SHARDS_DURATION": "50ms",
            "UPDATE_SHARD_COUNT_DURATION": "50ms",
        }
        self._server.start(
            [node, "--require", str(PRELOAD), str(main)],
            self._listens,
            timeout=timeout,
            cwd=main.parent,
            env=env,
            hint=f"is port {self.port} taken?",
        )
        return self

    def _listens(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self._server.stop()
