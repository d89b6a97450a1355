"""build.sh refuses bad input with a message naming the problem, exits non-zero and leaves no zip behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test.build.helpers import PIP_CACHE_DIR, ROOT, function_folders, run_build

pytestmark = pytest.mark.build

NAME = "error_source"
FOLDER = function_folders().get(NAME, "producers/error_source")


def docker_running() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def assert_nothing_written(target: Path) -> None:
    leftovers = sorted(p.name for p in target.iterdir()) if target.exists() else []
    assert leftovers == [], f"target/ should be empty after a failed build, has {leftovers}"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "target"


@pytest.fixture
def outside_function(tmp_path: Path) -> Path:
    """A folder that looks like a function (handler.py and all) but lies outside the repository."""
    folder = tmp_path / "elsewhere" / "producers" / NAME
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "unknown function 'nosuch'"),
        (["nosuch", "./producers/nosuch"], "path not found: ./producers/nosuch"),
        ([NAME, "./producers/nosuch"], "path not found: ./producers/nosuch"),
        ([NAME, "./shared"], "not a function folder: ./shared"),
        ([NAME, "."], "not a function folder: ."),
        ([NAME, "./build.sh"], "not a folder: ./build.sh"),
        ([NAME, ".."], "path is outside the repository"),
        (["other", f"./{FOLDER}"], f"name 'other' does not match the folder {FOLDER}"),
        (["bad-name", f"./{FOLDER}"], "invalid name 'bad-name'"),
    ],
)
def test_bad_name_or_path_fails_with_a_message(target: Path, args: list[str], message: str) -> None:
    result = run_build(*args, "--no-docker", env={"TARGET_DIR": str(target)}, check=False)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert_nothing_written(target)


def test_function_folder_outside_the_repository_is_refused(target: Path, outside_function: Path) -> None:
    result = run_build(NAME, str(outside_function), "--no-docker", env={"TARGET_DIR": str(target)}, check=False)
    assert result.returncode == 1
    assert "path is outside the repository" in result.stderr
    assert_nothing_written(target)


def test_symlink_leading_out_of_the_repository_is_refused(
    fresh_copy: Path, target: Path, outside_function: Path
) -> None:
    link = fresh_copy / "producers" / "linked"
    link.symlink_to(outside_function, target_is_directory=True)
    try:
        result = run_build(
            "linked", "./producers/linked", root=fresh_copy, env={"TARGET_DIR": str(target)}, check=False
        )
    finally:
        link.unlink()
    assert result.returncode == 1
    assert "path is outside the repository" in result.stderr
    assert_nothing_written(target)


def test_folder_without_handler_is_refused(fresh_copy: Path, target: Path) -> None:
    folder = fresh_copy / "producers" / "no_handler"
    folder.mkdir()
    (folder / "transform.py").write_text("")
    try:
        result = run_build(
            "no_handler", "./producers/no_handler", root=fresh_copy, env={"TARGET_DIR": str(target)}, check=False
        )
        by_name = run_build("no_handler", root=fresh_copy, env={"TARGET_DIR": str(target)}, check=False)
    finally:
        (folder / "transform.py").unlink()
        folder.rmdir()
    assert result.returncode == 1
    assert "no handler.py in ./producers/no_handler" in result.stderr
    assert by_name.returncode == 1
    assert "unknown function 'no_handler'" in by_name.stderr
    assert_nothing_written(target)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing NAME"),
        (["--bogus", NAME], "unknown option: --bogus"),
        (["--arch", "sparc", NAME], "unsupported architecture 'sparc'"),
        (["--runtime", "python2.7", NAME], "unsupported runtime 'python2.7'"),
        (["--runtime"], "--runtime needs a value"),
        (["--all", NAME], "--all takes no NAME or PATH"),
        ([NAME, f"./{FOLDER}", "extra"], "too many arguments"),
    ],
)
def test_bad_arguments_print_usage(target: Path, args: list[str], message: str) -> None:
    result = run_build(*args, env={"TARGET_DIR": str(target)}, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Usage: ./build.sh" in result.stderr
    assert_nothing_written(target)


def test_help_prints_usage() -> None:
    result = run_build("--help")
    assert "Usage: ./build.sh" in result.stdout


@pytest.mark.skipif(docker_running(), reason="a Docker engine is running here, so --docker would build")
def test_docker_asked_for_without_an_engine_fails_clearly(target: Path) -> None:
    result = run_build(NAME, f"./{FOLDER}", "--docker", env={"TARGET_DIR": str(target)}, check=False)
    assert result.returncode == 1
    assert "no Docker engine is running" in result.stderr
    assert_nothing_written(target)


def test_failing_pip_step_leaves_no_zip_not_even_an_old_one(tmp_path: Path, target: Path) -> None:
    # GIVEN a zip from an earlier build, and requirements pip cannot satisfy (offline: no index)
    target.mkdir()
    (target / f"{NAME}.zip").write_bytes(b"an earlier build")
    (target / f"{NAME}.json").write_text("{}")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==0.0.1\n")
    env = {
        "TARGET_DIR": str(target),
        "REQUIREMENTS_FILE": str(requirements),
        "BUILD_CACHE_DIR": str(tmp_path / "cache"),
        "PIP_NO_INDEX": "1",
    }
    # WHEN the build runs
    result = run_build(NAME, f"./{FOLDER}", "--no-docker", env=env, check=False)
    # THEN it fails naming pip and the requirements, and target/ has no zip for the name
    assert result.returncode == 1
    assert f"pip could not install the dependencies in {requirements}" in result.stderr
    assert f"no zip was written for: {NAME}" in result.stderr
    assert_nothing_written(target)
    assert [p.name for p in (tmp_path / "cache" / "deps").iterdir()] == []


def test_missing_requirements_file_is_named(tmp_path: Path, target: Path) -> None:
    env = {"TARGET_DIR": str(target), "REQUIREMENTS_FILE": str(tmp_path / "nope.txt")}
    result = run_build(NAME, "--no-docker", env=env, check=False)
    assert result.returncode == 1
    assert f"requirements file not found: {tmp_path / 'nope.txt'}" in result.stderr
    assert_nothing_written(target)


def test_zip_over_the_size_limit_is_refused(target: Path) -> None:
    result = run_build(NAME, "--no-docker", env={"TARGET_DIR": str(target), "MAX_ZIP_BYTES": "1000"}, check=False)
    assert result.returncode == 1
    assert "over the 1000-byte limit" in result.stderr
    assert_nothing_written(target)


def test_paths_are_taken_relative_to_the_working_directory(tmp_path: Path) -> None:
    kind, name = FOLDER.split("/")
    result = subprocess.run(
        [str(ROOT / "build.sh"), name, f"./{name}", "--no-docker"],
        cwd=ROOT / kind,
        env={**os.environ, "TARGET_DIR": str(tmp_path), "PIP_CACHE_DIR": PIP_CACHE_DIR},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{name}.zip").is_file()


def test_a_function_folder_pipeline_json_does_not_list_is_refused(fresh_copy: Path, target: Path) -> None:
    """--all builds what pipeline.json lists; a folder with a handler.py but no entry is an error, not skipped."""
    folder = fresh_copy / "consumers" / "unlisted"
    folder.mkdir()
    (folder / "handler.py").write_text("def handler(event, context):\n    return {}\n")
    try:
        every = run_build("--all", "--no-docker", root=fresh_copy, env={"TARGET_DIR": str(target)}, check=False)
        one = run_build(
            "unlisted", "./consumers/unlisted", "--no-docker", root=fresh_copy, env={"TARGET_DIR": str(target)},
            check=False,
        )  # fmt: skip
    finally:
        (folder / "handler.py").unlink()
        folder.rmdir()
    assert every.returncode == 1
    assert "consumers/unlisted has a handler.py but pipeline.json has no function 'unlisted'" in every.stderr
    assert one.returncode == 1
    assert "pipeline.json has no function 'unlisted' of kind 'consumers'" in one.stderr
    assert_nothing_written(target)
