"""Paths and small helpers shared by the infrastructure tests."""

from __future__ import annotations

import socket
from pathlib import Path

__all__ = ["REGION", "ROOT", "TERRAFORM_DIR", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
