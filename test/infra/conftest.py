"""Fixtures for the infrastructure tests: Terraform, a CLI config for the local provider mirror, a moto server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.infra.helpers import REGION, free_port

# Folder above registry.terraform.io; used only when it exists (elsewhere Terraform downloads normally).
PLUGIN_MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
_CLI_CONFIG = """\
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/hashicorp/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/*"]
  }}
}}
"""


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    """Path of the terraform binary, or skip."""
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH (needs Terraform >= 1.6)")
    return path


@pytest.fixture(scope="session")
def tf_work() -> Iterator[Path]:
    """Scratch folder for Terraform's data dir, state, plans and CLI config: the repository stays clean."""
    path = Path(tempfile.mkdtemp(prefix="evpipe-tf-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tf_env(tf_work: Path) -> dict[str, str]:
    """Environment for every terraform command: no prompts, no checkpoint calls, fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        TF_DATA_DIR=str(tf_work / "data"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    if PLUGIN_MIRROR.is_dir():
        config = tf_work / "mirror.tfrc"
        config.write_text(_CLI_CONFIG.format(mirror=PLUGIN_MIRROR))
        env["TF_CLI_CONFIG_FILE"] = str(config)
    return env


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server of our own on a free 127.0.0.1 port (with the shims in moto_shims.py)."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (requirements-dev.txt)")
    port = free_port()
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")  # the AWS managed policies we attach
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("moto_shims.py")), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        output = log.read().decode(errors="replace")
                        pytest.fail(f"moto server did not start on port {port}:\n{output}", pytrace=False)
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
