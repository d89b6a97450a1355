"""The build: ./build.sh runs this (``python tools/build.py ARGS``), which owns every step of it.

Arguments, which functions (pipeline.json, through lambda_zip), the dependencies (pip on this machine, or
Docker with the Lambda build image), the zips (lambda_zip), and two checks on what comes out:

- a database function's zip (``"database": true`` in pipeline.json) is refused without the RDS CA bundle,
  shared/certs/rds-global-bundle.pem (``make rds-ca`` fetches it);
- every finished function zip is unpacked alone into an empty temporary folder and its handler module imported
  by the runtime's Python (3.12 for python3.12) with only the zip, boto3/botocore (what the runtime provides)
  and the standard library on sys.path, so an import of a module the zip lacks fails the build by name.

Outputs go to a temporary folder first and are renamed into target/ only when every one is complete; a failed
build also removes the earlier outputs of the same names. Standard library only; runs on Python 3.9+.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess  # nosec B404
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ca_bundle
import lambda_zip

ROOT = Path(__file__).resolve().parent.parent
LAYER_NAME = lambda_zip.LAYER_NAME
RDS_CA_BUNDLE = ca_bundle.PATH
# What the Lambda Python runtime provides and the import test therefore adds beside the zip (its /var/runtime).
RUNTIME_PACKAGES = ("boto3", "botocore")

USAGE = """\
Usage: ./build.sh [OPTIONS] NAME [PATH]
       ./build.sh [OPTIONS] --all
       ./build.sh [OPTIONS] --layer

Builds target/NAME.zip from the function folder PATH, shared/ and the dependencies pinned in
requirements.txt, and target/NAME.json (handler, runtime, architecture, sha256, size). The zip is
deterministic: the same inputs give the same bytes. NAME is a function pipeline.json lists; PATH
is its folder, KIND/NAME (producers/NAME, consumers/NAME or utilities/NAME); when left out, it is
the one pipeline.json gives.

A database function (pipeline.json: "database": true) needs the RDS CA bundle in its zip: run
`make rds-ca` first. Every function zip is then import-tested alone with the runtime's Python.

Options:
  --all              every function pipeline.json lists, and target/dependencies-layer.zip
  --layer            target/dependencies-layer.zip: the dependencies under python/ (a Lambda layer)
  --runtime RUNTIME  Lambda runtime, python3.X (default: python3.12)
  --arch ARCH        x86_64 (default) or arm64
  --docker           build inside the Lambda build image (Dockerfile); needs a running Docker engine
  --no-docker        build on this machine with pip --platform manylinux2014_<arch> --only-binary=:all:
                     (default: --docker when 'docker info' succeeds, otherwise --no-docker)
  --without-rds-ca   build database functions without the RDS CA bundle: for the local stack and
                     tests only (such a zip cannot verify RDS; make deploy and make upload refuse it)
  -h, --help         show this text

Environment:
  REQUIREMENTS_FILE  dependencies to install (default: requirements.txt)
  TARGET_DIR         where zips are written (default: target/)
  BUILD_CACHE_DIR    installed dependencies, one folder per requirements/runtime/arch (default: .cache/build)
  PIP_CACHE_DIR      pip's cache, and the wheels downloaded once for every build (default: .cache/pip)
  PYTHON             interpreter that runs pip and writes the zip (default: python3)
  LAMBDA_PYTHON      interpreter for the import test (default: python3.X on PATH, else pyenv's 3.X)
  MAX_ZIP_BYTES      largest function zip accepted (default: 10000000)

Examples:
  ./build.sh error_source ./producers/error_source
  ./build.sh --all --arch arm64
"""

# The environment a handler may read at import, as Lambda and Terraform would set it. Nothing is contacted at
# import: the endpoint and the database are unreachable on purpose.
_STAND_IN = "build"  # credentials nobody checks: nothing is contacted
IMPORT_ENV = {
    "STAGE": "build",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "build",
    "AWS_SECRET_ACCESS_KEY": _STAND_IN,
    "AWS_SESSION_TOKEN": _STAND_IN,
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "DATABASE_URL": "postgresql://build@127.0.0.1:1/build",
    "DATABASE_SSLMODE": "disable",
    "LOG_LEVEL": "WARNING",
}
# Values for the names a function takes from Terraform (pipeline.json's terraform_environment); others get "1".
TERRAFORM_VALUES = {"ALERT_THRESHOLD": "10", "RETENTION_DAYS": "30"}

# Run by the runtime's interpreter in isolated mode (-I -S): sys.path is the unpacked zip, the runtime's
# packages and the standard library, nothing else; prints one JSON line.
IMPORT_PROBE = r"""
import importlib, json, sys
task, runtime, module, function = sys.argv[1:]
sys.path[:] = [task, runtime] + [p for p in sys.path if p and "site-packages" not in p]
try:
    entry = getattr(importlib.import_module(module), function, None)
    if callable(entry):
        result = {"ok": True}
    else:
        result = {"ok": False, "type": "NoHandler", "error": "%s has no function %s" % (module, function)}
except BaseException as e:
    result = {"ok": False, "type": type(e).__name__, "error": "%s: %s" % (type(e).__name__, e)}
result["python"] = sys.version.split()[0]
print(json.dumps(result))
"""


IMPORT_TIMEOUT_S = 120  # Lambda's init phase gets 10 s; this is only a bound on a hung import


class Failure(Exception):
    """The build cannot go on; the message says why (exit status 1)."""


class UsageError(Exception):
    """Bad arguments (exit status 2, with the usage)."""


def note(message: str) -> None:
    print(f"build.sh: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ arguments


class Options:
    def __init__(self) -> None:
        self.all = False
        self.layer = False
        self.runtime = "python3.12"
        self.arch = "x86_64"
        self.mode = "auto"
        self.without_rds_ca = False
        self.positional: list[str] = []


def parse(argv: list[str]) -> Options:
    opts = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(USAGE, end="")
            sys.exit(0)
        elif arg == "--all":
            opts.all = True
        elif arg == "--layer":
            opts.layer = True
        elif arg == "--docker":
            opts.mode = "docker"
        elif arg == "--no-docker":
            opts.mode = "pip"
        elif arg == "--without-rds-ca":
            opts.without_rds_ca = True
        elif arg in ("--runtime", "--arch"):
            if not args:
                raise UsageError(f"{arg} needs a value")
            setattr(opts, arg[2:], args.pop(0))
        elif arg.startswith(("--runtime=", "--arch=")):
            key, _, value = arg[2:].partition("=")
            setattr(opts, key, value)
        elif arg == "--":
            opts.positional += args
            break
        elif arg.startswith("-"):
            raise UsageError(f"unknown option: {arg}")
        else:
            opts.positional.append(arg)
    m = re.fullmatch(r"python3\.([1-9][0-9]*)", opts.runtime)
    if not m or int(m.group(1)) < 9:
        raise UsageError(
            f"unsupported runtime '{opts.runtime}': expected python3.X (3.9 or later), for example python3.12"
        )
    if opts.arch not in ("x86_64", "arm64"):
        raise UsageError(f"unsupported architecture '{opts.arch}': expected x86_64 or arm64")
    if opts.all:
        if opts.positional:
            raise UsageError("--all takes no NAME or PATH")
        opts.layer = True
    elif not opts.positional and not opts.layer:
        raise UsageError("missing NAME (or --all, or --layer)")
    elif len(opts.positional) > 2:
        raise UsageError(f"too many arguments: {' '.join(opts.positional)}")
    return opts


# ------------------------------------------------------------------------------------------ which functions


def _folders() -> dict[str, str]:
    try:
        return lambda_zip.function_folders(ROOT)
    except lambda_zip.BuildError as e:
        raise Failure(str(e)) from None


def _manifest() -> dict:
    try:
        return lambda_zip.read_manifest(ROOT)
    except lambda_zip.BuildError as e:
        raise Failure(str(e)) from None


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise Failure(
            f"invalid name '{name}': use letters, digits and underscores "
            "(it is part of the handler's Python module path)"
        )


def resolve_name(name: str) -> str:
    _check_name(name)
    folders = _folders()
    if name not in folders:
        known = " ".join(folders) or "none"
        raise Failure(f"unknown function '{name}': pipeline.json has no such function (known: {known})")
    return folders[name]


def resolve_path(name: str, path: str) -> str:
    """The function folder PATH (relative to the working directory) as KIND/NAME, checked against pipeline.json."""
    _check_name(name)
    if not os.path.lexists(path) or not os.path.exists(path):
        raise Failure(f"path not found: {path}")
    if not os.path.isdir(path):
        raise Failure(f"not a folder: {path}")
    real = Path(os.path.realpath(path))
    if real != ROOT and ROOT not in real.parents:
        raise Failure(f"path is outside the repository ({ROOT}): {path}")
    rel = real.relative_to(ROOT).as_posix()
    kinds = _manifest()["kinds"]
    parts = rel.split("/")
    if len(parts) != 2 or parts[0] not in kinds:
        raise Failure(
            f"not a function folder: {path} (expected <{'|'.join(kinds)}>/<name>, the kinds pipeline.json lists)"
        )
    if not (real / "handler.py").is_file():
        raise Failure(f"no handler.py in {path}: a function folder needs handler.py with handler(event, context)")
    if parts[1] != name:
        raise Failure(
            f"name '{name}' does not match the folder {rel}: the zip and the handler are named after the folder "
            f"(./build.sh {parts[1]} {path})"
        )
    if _folders().get(name) != rel:
        raise Failure(
            f"pipeline.json has no function '{name}' of kind '{parts[0]}': "
            "add its entry (python -m local new ... writes one)"
        )
    return rel


def select(opts: Options) -> list[str]:
    """The function folders to build, KIND/NAME each."""
    if opts.all:
        functions = list(_folders().values())
        if not functions:
            raise Failure("pipeline.json lists no functions")
    elif len(opts.positional) == 1:
        functions = [resolve_name(opts.positional[0])]
    elif len(opts.positional) == 2:
        functions = [resolve_path(*opts.positional)]
    else:
        functions = []
    names = [rel.split("/")[1] for rel in functions]
    for name in names:
        if names.count(name) > 1:
            raise Failure(f"two function folders are named '{name}'; each needs a unique name (target/{name}.zip)")
    return functions


def check_rds_ca(functions: list[str], *, allowed_without: bool) -> None:
    """A database function's zip needs the RDS CA bundle (verify-full): refuse to build it without one."""
    manifest = _manifest()["functions"]
    database = [rel.split("/")[1] for rel in functions if manifest.get(rel.split("/")[1], {}).get("database")]
    if not database:
        return
    try:
        wrong = ca_bundle.problem((ROOT / RDS_CA_BUNDLE).read_bytes())
    except OSError:
        wrong = "is missing"
    if wrong is None:
        return
    if allowed_without:
        note(f"--without-rds-ca: {', '.join(database)} built although {RDS_CA_BUNDLE} {wrong} (not deployable)")
        return
    raise Failure(
        f"{RDS_CA_BUNDLE} {wrong}, and {', '.join(database)} need it to verify the database: run `make rds-ca` "
        "first (or --without-rds-ca for a local build)"
    )


# ------------------------------------------------------------------------------------------ dependencies


def _pip(*args: str, quiet_errors: bool = False) -> bool:
    env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
    command = [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]
    stderr = subprocess.DEVNULL if quiet_errors else None
    return subprocess.run(command, env=env, stderr=stderr, check=False).returncode == 0  # nosec B603


def pip_platforms(runtime: str, arch: str) -> list[str]:
    """Wheels pip may pick, most preferred first. manylinux2014 (glibc 2.17) runs everywhere; python3.12 and later
    run on Amazon Linux 2023 (glibc 2.34), which also runs manylinux_2_28 wheels, the only kind some packages
    publish for arm64 (psycopg2-binary 2.9.13). Earlier runtimes run on Amazon Linux 2 (glibc 2.26)."""
    machine = "aarch64" if arch == "arm64" else "x86_64"
    platforms = [f"manylinux2014_{machine}"]
    if int(runtime.split(".")[1]) >= 12:
        platforms.append(f"manylinux_2_28_{machine}")
    return platforms


def install_cached(key_text: bytes, folder: Path, select_args: list[str], pip_cache: Path, what: str) -> Path:
    """pip install --target into folder/<key>/site once; later builds reuse it. Wheels are downloaded once into a
    wheelhouse in the pip cache and installed from there without the index, so a new runtime, arch or clone costs no
    download for wheels already fetched."""
    key = hashlib.sha256(key_text).hexdigest()[:16]
    done = folder.with_name(f"{folder.name}-{key}")
    if (done / ".complete").is_file():
        note(f"{what}: reusing {_shown(done)}")
        return done / "site"
    wheelhouse = pip_cache / "wheelhouse"
    done.parent.mkdir(parents=True, exist_ok=True)
    wheelhouse.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp.", dir=done.parent))
    try:
        note(f"{what}: pip install {' '.join(select_args)}")
        install = ["install", "--no-compile", "--no-warn-conflicts", "--no-index", "--find-links", str(wheelhouse)]
        install += ["--target", str(tmp / "site")]
        if not _pip(*install, *select_args, quiet_errors=True):
            shutil.rmtree(tmp / "site", ignore_errors=True)
            fetched = _pip("download", "--cache-dir", str(pip_cache), "--dest", str(wheelhouse), *select_args)
            if not fetched or not _pip(*install, *select_args):
                raise Failure(f"pip could not install {what} (pip's message is above)")
        (tmp / ".complete").touch()
        if (done / ".complete").is_file():
            shutil.rmtree(tmp)  # another build got there first
        else:
            shutil.rmtree(done, ignore_errors=True)
            tmp.rename(done)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return done / "site"


def install_dependencies(requirements: Path, runtime: str, arch: str, cache: Path, pip_cache: Path) -> Path:
    platforms = pip_platforms(runtime, arch)
    select_args = [a for p in platforms for a in ("--platform", p)]
    select_args += ["--implementation", "cp", "--python-version", runtime[len("python") :], "--only-binary=:all:"]
    select_args += ["-r", str(requirements)]
    key = requirements.read_bytes() + f"\n{runtime} {arch} {' '.join(platforms)} v1\n".encode()
    try:
        return install_cached(
            key, cache / "deps" / f"{runtime}-{arch}", select_args, pip_cache, f"dependencies for {runtime}/{arch}"
        )
    except Failure:
        raise Failure(
            f"pip could not install the dependencies in {requirements} for {runtime} on {arch} (pip's message is above)"
        ) from None


def dev_pins(names: tuple[str, ...] = RUNTIME_PACKAGES, root: Path = ROOT) -> list[str]:
    """The pins for names in requirements-dev.txt (name==version), or the bare names."""
    try:
        text = (root / "requirements-dev.txt").read_text(encoding="utf-8")
    except OSError:
        text = ""
    pins = []
    for name in names:
        m = re.search(rf"^{re.escape(name)}==\S+", text, flags=re.MULTILINE)
        pins.append(m.group(0) if m else name)
    return pins


def runtime_site(runtime: str, cache: Path, pip_cache: Path) -> Path:
    """boto3 and botocore for the runtime's Python in a folder of their own, standing in for Lambda's /var/runtime."""
    pins = dev_pins()
    select_args = ["--platform", "manylinux2014_x86_64", "--implementation", "cp"]
    select_args += ["--python-version", runtime[len("python") :], "--only-binary=:all:", *pins]
    key = f"{runtime} {' '.join(pins)} v1".encode()
    what = f"the runtime's {', '.join(pins)}"
    return install_cached(key, cache / "lambda-runtime" / runtime, select_args, pip_cache, what)


# ------------------------------------------------------------------------------------------ docker


def docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0  # nosec B603 B607
    except (OSError, subprocess.TimeoutExpired):
        return False


def build_with_docker(
    functions: list[str], opts: Options, requirements: Path, out: Path, work: Path, max_bytes: int
) -> None:
    """A small build context holding only what the zip needs, laid out like the repository."""
    ctx = work / "context"
    (ctx / "tools").mkdir(parents=True)
    shutil.copyfile(requirements, ctx / "requirements.txt")
    shutil.copyfile(ROOT / "tools" / "lambda_zip.py", ctx / "tools" / "lambda_zip.py")
    for name in ("pipeline.json", ".dockerignore"):
        shutil.copyfile(ROOT / name, ctx / name)
    shutil.copytree(ROOT / "shared", ctx / "shared", symlinks=True)
    for rel in functions:
        kind = rel.split("/")[0]
        (ctx / kind).mkdir(exist_ok=True)
        if (ROOT / kind / "__init__.py").is_file():
            shutil.copyfile(ROOT / kind / "__init__.py", ctx / kind / "__init__.py")
        shutil.copytree(ROOT / rel, ctx / rel, symlinks=True)
    version = opts.runtime[len("python") :]
    docker_platform = "linux/arm64" if opts.arch == "arm64" else "linux/amd64"
    note(f"building in public.ecr.aws/sam/build-{opts.runtime}:latest-{opts.arch} ({docker_platform})")
    command = [
        "docker", "build", "--file", str(ROOT / "Dockerfile"), "--platform", docker_platform,
        "--target", "artifact", "--output", f"type=local,dest={out}",
        "--build-arg", f"PYTHON_VERSION={version}", "--build-arg", f"IMAGE_TAG=latest-{opts.arch}",
        "--build-arg", f"RUNTIME={opts.runtime}", "--build-arg", f"ARCH={opts.arch}",
        "--build-arg", f"LAYER={int(opts.layer)}", "--build-arg", f"FUNCTIONS={' '.join(functions)}",
        "--build-arg", f"MAX_ZIP_BYTES={max_bytes}", str(ctx),
    ]  # fmt: skip
    if subprocess.run(command, env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=False).returncode != 0:  # nosec B603
        raise Failure("docker build failed (see above)")


def build_with_pip(functions: list[str], opts: Options, deps: Path, out: Path, max_bytes: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    common = {"runtime": opts.runtime, "arch": opts.arch, "builder": "pip"}
    try:
        for rel in functions:
            m = lambda_zip.build_function(ROOT, rel, deps, out, max_bytes=max_bytes, **common)
            print(f"built {m['zip']}: {m['size']} bytes, {m['files']} files, handler {m['handler']}", flush=True)
        if opts.layer:
            m = lambda_zip.build_layer(deps, out, **common)
            print(f"built {m['zip']}: {m['size']} bytes, {m['files']} files", flush=True)
    except (lambda_zip.BuildError, OSError) as e:
        raise Failure(f"writing the zips failed: {e}") from None


# ------------------------------------------------------------------------------------------ import test


def find_python(version: str) -> str | None:
    """An interpreter for version ("3.12"): $LAMBDA_PYTHON, pythonX.Y on PATH, or a pyenv install."""
    wanted = version
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    installs = glob.glob(os.path.join(pyenv_root, "versions", f"{version}*", "bin", f"python{version}"))

    def release(path: str) -> list[int]:
        return [int(n) for n in re.findall(r"\d+", Path(path).parents[1].name)]

    candidates += sorted(installs, key=release, reverse=True)  # newest patch release first
    for exe in filter(None, candidates):
        try:
            found = subprocess.run(  # nosec B603
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        got, _, real = found.stdout.strip().partition(" ")
        if found.returncode == 0 and got == wanted and real:
            # The interpreter itself, not a pyenv shim: the import test runs it with a bare environment, in
            # which a shim would no longer find the version PYENV_VERSION or a .python-version chose.
            return real
    return None


def import_env(name: str, entry: dict) -> dict[str, str]:
    """What Lambda would give the function at import: pipeline.json's variables for it, harmless values."""
    env = dict(IMPORT_ENV)
    env.update({key: stream for key, stream in (entry.get("stream_env") or {}).items()})
    topics = entry.get("topic_env") or {}
    env.update({key: f"arn:aws:sns:us-east-1:000000000000:{topic}" for key, topic in topics.items()})
    env.update({key: str(value) for key, value in (entry.get("environment") or {}).items()})
    env.update({key: TERRAFORM_VALUES.get(key, "1") for key in entry.get("terraform_environment") or []})
    env["AWS_LAMBDA_FUNCTION_NAME"] = f"event-pipeline-build-{name}"
    return env


def import_test(zip_path: Path, handler: str, python: str, runtime_dir: Path, env: dict[str, str]) -> dict:
    """Unpack the zip alone into an empty temporary folder and import the handler's module there."""
    module, _, function = handler.rpartition(".")
    with tempfile.TemporaryDirectory(prefix="evpipe-import-") as task:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(task)
        child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC", **env}
        child_env["LAMBDA_TASK_ROOT"] = task
        try:
            proc = subprocess.run(  # nosec B603
                [python, "-I", "-S", "-c", IMPORT_PROBE, task, str(runtime_dir), module, function],
                cwd=task, env=child_env, capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"ok": False, "type": "timeout", "error": f"the import did not finish in {IMPORT_TIMEOUT_S} s"}
    for line in reversed(proc.stdout.splitlines()):  # the probe's line is the last JSON object with "ok"
        try:
            result = json.loads(line)
        except ValueError:
            continue
        if isinstance(result, dict) and isinstance(result.get("ok"), bool):
            return result
    return {"ok": False, "type": "crash", "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def import_tests(functions: list[str], opts: Options, out: Path, cache: Path, pip_cache: Path) -> None:
    version = opts.runtime[len("python") :]
    host = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if host != opts.arch:
        note(f"import test skipped: {opts.arch} zips do not load on this {platform.machine()} machine")
        return
    python = find_python(version)
    if python is None:
        note(f"import test skipped: no Python {version} here (set LAMBDA_PYTHON; pyenv install {version})")
        return
    runtime_dir = runtime_site(opts.runtime, cache, pip_cache)
    entries = _manifest()["functions"]
    problems = []
    for rel in functions:
        name = rel.split("/")[1]
        handler = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))["handler"]
        result = import_test(out / f"{name}.zip", handler, python, runtime_dir, import_env(name, entries.get(name, {})))
        if result["ok"]:
            continue
        module, used = handler.rpartition(".")[0], result.get("python", version)
        problems.append(
            f"{name}.zip: importing {module} with Python {used} from the zip alone fails: {result['error']}"
        )
    if problems:
        raise Failure("; ".join(problems))
    note(f"import test: {len(functions)} handler(s) import from their zips alone with Python {version} ({python})")


# ------------------------------------------------------------------------------------------ main


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _usage_error(message: str) -> NoReturn:
    print(f"build.sh: {message}\n", file=sys.stderr)
    print(USAGE, end="", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 9):  # noqa: UP036  (build.sh may run this with any python3)
        print(f"build.sh: error: {sys.executable} is older than Python 3.9; set PYTHON to a newer one", file=sys.stderr)
        return 1
    try:
        opts = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        _usage_error(str(e))
    # SIGTERM ends the build like Ctrl-C does, through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    names: list[str] = []
    target = Path(os.environ.get("TARGET_DIR") or ROOT / "target").absolute()
    work: Path | None = None
    building = False
    try:
        functions = select(opts)
        names = [rel.split("/")[1] for rel in functions]
        requirements = Path(os.environ.get("REQUIREMENTS_FILE") or ROOT / "requirements.txt")
        if not requirements.is_file():
            raise Failure(f"requirements file not found: {requirements}")
        cache = Path(os.environ.get("BUILD_CACHE_DIR") or ROOT / ".cache" / "build").absolute()
        pip_cache = Path(os.environ.get("PIP_CACHE_DIR") or ROOT / ".cache" / "pip").absolute()
        max_bytes = int(os.environ.get("MAX_ZIP_BYTES") or lambda_zip.DEFAULT_MAX_BYTES)
        check_rds_ca(functions, allowed_without=opts.without_rds_ca)

        mode = opts.mode
        if mode == "docker" and not docker_running():
            raise Failure(
                "--docker was asked for, but no Docker engine is running ('docker info' failed). "
                "Start Docker, or build without it: ./build.sh --no-docker ..."
            )
        if mode == "auto":
            mode = "docker" if docker_running() else "pip"
        pip_version = [sys.executable, "-m", "pip", "--version"]
        if mode == "pip" and subprocess.run(pip_version, capture_output=True, check=False).returncode:  # nosec B603
            raise Failure(f"pip is not available for {sys.executable}: install it (python3 -m ensurepip) or set PYTHON")

        target.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build.", dir=target))
        out = work / "out"
        building = True
        if mode == "docker":
            build_with_docker(functions, opts, requirements, out, work, max_bytes)
        else:
            deps = install_dependencies(requirements, opts.runtime, opts.arch, cache, pip_cache)
            build_with_pip(functions, opts, deps, out, max_bytes)

        outputs = names + ([LAYER_NAME] if opts.layer else [])
        for name in outputs:
            if not (out / f"{name}.zip").is_file() or not (out / f"{name}.json").is_file():
                raise Failure(f"the build did not produce {name}.zip")
        if functions:
            import_tests(functions, opts, out, cache, pip_cache)
        for name in outputs:
            for suffix in (".zip", ".json"):
                os.replace(out / f"{name}{suffix}", target / f"{name}{suffix}")
            note(f"wrote {_shown(target / name)}.zip")
        building = False
        return 0
    except Failure as e:
        print(f"build.sh: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if building:
            failed = names + ([LAYER_NAME] if opts.layer else [])
            for name in failed:
                for suffix in (".zip", ".json"):
                    (target / f"{name}{suffix}").unlink(missing_ok=True)
            print(f"build.sh: build failed; no zip was written for: {' '.join(failed)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
