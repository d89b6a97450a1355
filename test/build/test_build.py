"""build.sh: one zip per function with the agreed layout, within the size limit, byte-identical on rebuild."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from test.build.helpers import (
    LAYER,
    MAX_ZIP_BYTES,
    PIP_CACHE_DIR,
    ROOT,
    RUNTIME,
    Built,
    function_folders,
    read_manifests,
    run_build,
    sha256,
)

pytestmark = pytest.mark.build

FUNCTIONS = function_folders()
FAKE_DOCKER = Path(__file__).with_name("fake_docker.sh")


def docker_running() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_has_a_zip_and_a_manifest(built: Built, name: str) -> None:
    zip_path = built.zip(name)
    manifest = built.manifests[name]
    kind = FUNCTIONS[name].split("/")[0]
    digest = hashlib.sha256(zip_path.read_bytes()).digest()

    assert manifest["name"] == name
    assert manifest["handler"] == f"{kind}.{name}.handler.handler"
    assert manifest["runtime"] == RUNTIME
    assert manifest["architecture"] == "x86_64"
    assert manifest["sha256"] == digest.hex()
    assert manifest["source_code_hash"] == base64.b64encode(digest).decode()
    assert manifest["size"] == zip_path.stat().st_size
    assert manifest["size"] <= MAX_ZIP_BYTES, f"{name}.zip is {manifest['size']} bytes"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_zip_holds_the_function_shared_and_dependencies_only(built: Built, name: str) -> None:
    kind = FUNCTIONS[name].split("/")[0]
    with zipfile.ZipFile(built.zip(name)) as zf:
        names = zf.namelist()
    files = set(names)

    # GIVEN the agreed layout: <kind>/__init__.py, <kind>/<name>/, shared/ (with its SQL), deps at root
    assert {f"{kind}/__init__.py", f"{kind}/{name}/__init__.py", f"{kind}/{name}/handler.py"} <= files
    assert "shared/__init__.py" in files
    sql = sorted(f"shared/sql/{p.name}" for p in (ROOT / "shared" / "sql").glob("*.sql"))
    assert sql, "shared/sql/ has no migrations to check"
    assert sorted(n for n in names if n.startswith("shared/sql/") and n.endswith(".sql")) == sql
    assert {"psycopg2/__init__.py", "aws_kinesis_agg/__init__.py", "six.py"} <= files
    assert any(n.startswith("psycopg2/_psycopg.cpython-312-x86_64-linux-gnu") for n in names)
    # THEN nothing the runtime does not need, nothing it provides, and no other function
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "s3transfer", "test", "tests", "bin")]
    assert not [n for n in names if n.endswith(".dist-info/RECORD")]
    others = [f"{k}/{n}/" for n, rel in FUNCTIONS.items() if n != name for k in [rel.split("/")[0]]]
    assert not [n for n in names if n.startswith(tuple(others))]


@pytest.mark.parametrize("name", [*sorted(FUNCTIONS), LAYER])
def test_zip_entries_are_sorted_dated_1980_with_normalised_modes(built: Built, name: str) -> None:
    with zipfile.ZipFile(built.zip(name)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: i.external_attr >> 16 for i in infos}
    assert {m for f, m in modes.items() if f.endswith("/")} == {stat.S_IFDIR | 0o755}
    assert {m for f, m in modes.items() if not f.endswith("/")} <= {stat.S_IFREG | 0o644, stat.S_IFREG | 0o755}
    assert modes.get("six.py", modes.get("python/six.py")) == stat.S_IFREG | 0o644
    assert all(m == stat.S_IFREG | 0o755 for f, m in modes.items() if f.endswith(".so"))


def test_layer_holds_the_dependencies_under_python(built: Built) -> None:
    manifest = built.manifests[LAYER]
    with zipfile.ZipFile(built.zip(LAYER)) as zf:
        names = zf.namelist()
    assert all(n.startswith("python/") for n in names)
    assert {"python/psycopg2/__init__.py", "python/aws_kinesis_agg/__init__.py", "python/six.py"} <= set(names)
    assert not [n for n in names if n.startswith(("python/shared/", "python/producers/", "python/boto3/"))]
    assert manifest["compatible_runtimes"] == [RUNTIME]
    assert manifest["sha256"] == sha256(built.zip(LAYER))


def test_readme_command_rebuilds_the_same_bytes(built: Built, tmp_path: Path) -> None:
    # GIVEN the zip the session built; WHEN the README's command builds it again (a second build)
    name = "error_source" if "error_source" in FUNCTIONS else sorted(FUNCTIONS)[0]
    run_build(name, f"./{FUNCTIONS[name]}", "--no-docker", env={"TARGET_DIR": str(tmp_path)})
    # THEN the bytes are the same
    assert sha256(tmp_path / f"{name}.zip") == built.manifests[name]["sha256"]
    assert read_manifests(tmp_path)[name] == built.manifests[name]


def test_fresh_clone_with_new_mtimes_and_umask_builds_the_same_bytes(
    built: Built, fresh_copy: Path, tmp_path: Path
) -> None:
    # GIVEN a copy of the tree with other mtimes; WHEN it builds, installing dependencies afresh, under umask 077
    env = {"BUILD_CACHE_DIR": str(tmp_path / "cache"), "TARGET_DIR": str(tmp_path / "target")}
    run_build("--all", "--no-docker", "--without-rds-ca", root=fresh_copy, env=env, umask="077")
    # THEN every zip has the bytes of the session's build
    rebuilt = read_manifests(tmp_path / "target")
    assert {n: m["sha256"] for n, m in rebuilt.items()} == {n: m["sha256"] for n, m in built.manifests.items()}


def test_arm64_build_carries_aarch64_binaries(tmp_path: Path) -> None:
    name = sorted(FUNCTIONS)[0]
    run_build(name, "--arch", "arm64", "--no-docker", env={"TARGET_DIR": str(tmp_path)})
    manifest = read_manifests(tmp_path)[name]
    with zipfile.ZipFile(tmp_path / f"{name}.zip") as zf:
        names = zf.namelist()
    assert manifest["architecture"] == "arm64"
    assert manifest["size"] <= MAX_ZIP_BYTES
    assert any(n.startswith("psycopg2/_psycopg.cpython-312-aarch64-linux-gnu") for n in names)
    assert not any("x86_64" in n for n in names)


@pytest.mark.skipif(not docker_running(), reason="no Docker engine running here ('docker info' fails)")
def test_docker_build_has_the_same_layout_as_the_pip_build(built: Built, tmp_path: Path) -> None:
    name = sorted(FUNCTIONS)[0]
    run_build(name, "--docker", env={"TARGET_DIR": str(tmp_path)})
    with zipfile.ZipFile(tmp_path / f"{name}.zip") as docker_zip, zipfile.ZipFile(built.zip(name)) as pip_zip:
        assert docker_zip.namelist() == pip_zip.namelist()
    assert read_manifests(tmp_path)[name]["builder"] == "docker"


def test_layer_alone(tmp_path: Path) -> None:
    run_build("--layer", "--no-docker", env={"TARGET_DIR": str(tmp_path)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{LAYER}.json", f"{LAYER}.zip"]


def test_docker_path_stages_the_context_and_gives_the_pip_path_bytes(built: Built, tmp_path: Path) -> None:
    # GIVEN a docker client whose engine answers (a stand-in doing the Dockerfile's steps on this machine)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(FAKE_DOCKER)
    log = tmp_path / "docker.log"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TARGET_DIR": str(tmp_path / "target"),
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_WHEELHOUSE": str(Path(PIP_CACHE_DIR) / "wheelhouse"),
    }
    name = sorted(FUNCTIONS)[0]

    # WHEN build.sh runs with neither --docker nor --no-docker
    run_build(name, env=env)

    # THEN it took the docker path, with the Lambda build image's arguments, and got the same zip
    calls = log.read_text().splitlines()
    assert calls[0] == "info"
    build = calls[1]
    assert build.startswith(f"build --file {ROOT / 'Dockerfile'} --platform linux/amd64 --target artifact")
    for arg in ("PYTHON_VERSION=3.12", "IMAGE_TAG=latest-x86_64", f"FUNCTIONS={FUNCTIONS[name]}", "LAYER=0"):
        assert f"--build-arg {arg}" in build
    manifest = read_manifests(tmp_path / "target")[name]
    assert manifest["builder"] == "docker"
    assert manifest["sha256"] == built.manifests[name]["sha256"]
