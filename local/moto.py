"""moto's server as a Kinesis-compatible endpoint on 127.0.0.1 (4566 by default, LocalStack's port)."""

from __future__ import annotations

import sys
import urllib.request

from local.process import ServerProcess

__all__ = ["MotoServer"]


class MotoServer:
    def __init__(self, port: int = 4566) -> None:
        self.port = port
        self._server = ServerProcess("moto server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            # Loopback http to the server we just started.
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310  # nosec B310
                return True
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> MotoServer:
        self._server.start(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self._answers,
            timeout=timeout,
            hint=f"is port {self.port} taken?",
        )
        return self

    def stop(self) -> None:
        self._server.stop()
