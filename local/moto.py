"""moto's server as a Kinesis-compatible endpoint on 127.0.0.1 (4566 by default, LocalStack's port)."""

from __future__ import annotations

import subprocess  # nosec B404
import sys
import time
import urllib.request

__all__ = ["MotoServer"]


class MotoServer:
    def __init__(self, port: int = 4566) -> None:
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        # Our own interpreter and module with a fixed argv: nothing untrusted reaches the command line.
        self._proc = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited at start (is port {self.port} taken?)")
            try:
                # Loopback http to the server we just started.
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310  # nosec B310
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not answer on {self.url} within {timeout}s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
