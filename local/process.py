"""A local server in a child process: started with a fixed argv, waited for until it answers, stopped for good."""

from __future__ import annotations

import subprocess  # nosec B404
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess"]


class ServerProcess:
    """One child process serving on 127.0.0.1; ``start`` returns once ``ready()`` says it answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._proc: subprocess.Popen[bytes] | None = None

    def start(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        *,
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        hint: str = "",
    ) -> None:
        # Callers pass their own interpreter or node and fixed arguments: nothing untrusted reaches the argv.
        # In a session of its own, so a Ctrl-C in the terminal reaches only the stack, which stops it in order.
        self._proc = subprocess.Popen(  # nosec B603
            list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start{f' ({hint})' if hint else ''}")
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer within {timeout}s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate, then kill after 10 s; safe to call twice or before start."""
        proc: Any = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
