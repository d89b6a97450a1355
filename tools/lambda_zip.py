"""Writes deterministic Lambda zips (function zips and the dependencies layer) and their manifests.

A step of the build, not an entry point: build a zip with ./build.sh. tools/build.py calls this on the
host (docker-less path) and the Dockerfile runs it inside the Lambda build image, so both paths produce
the same layout. Standard library only; runs on Python 3.9+.

The Dockerfile's command line:
    python tools/lambda_zip.py --root REPO --deps DIR --runtime python3.12 --arch x86_64 \
        --builder docker --out-dir OUT [--layer] [producers/error_source ...]

For each function folder it writes OUT/<name>.zip and OUT/<name>.json; with --layer it also
writes OUT/dependencies-layer.zip (dependencies under python/) and OUT/dependencies-layer.json.

Which functions there are, and their kinds (the folders they live in), is pipeline.json's to say:
    python tools/lambda_zip.py --root REPO --list           every function, as KIND/NAME, one a line
    python tools/lambda_zip.py --root REPO --resolve NAME   one function's KIND/NAME
Both fail, naming it, when a function folder has no entry in pipeline.json or an entry no folder.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import stat
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["BuildError", "Entry", "build_function", "build_layer", "function_folders", "main", "write_zip"]

MANIFEST = "pipeline.json"
LAYER_NAME = "dependencies-layer"
# Zip's epoch: every entry gets this timestamp, so a fresh clone (new mtimes) zips identically.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
DEFAULT_MAX_BYTES = 10_000_000
# The Lambda Python runtime ships these; bundling them would shadow its copy and add ~20 MB.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")

# Never needed at run time, wherever they appear.
EXCLUDED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
EXCLUDED_FILES = frozenset({".DS_Store", "conftest.py"})
# Inside installed dependencies only: test suites, and pip's per-install bookkeeping (RECORD lists
# hashes of files we drop; INSTALLER/REQUESTED/direct_url.json describe the machine that ran pip).
DEPENDENCY_EXCLUDED_DIRS = frozenset({"tests", "testdata"})
DEPENDENCY_EXCLUDED_TOP = frozenset({"bin"})
DIST_INFO_EXCLUDED = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


class BuildError(Exception):
    """A build input is missing or invalid; the message says which and why."""


class Entry:
    """One file going into a zip: its name inside the zip and its bytes."""

    __slots__ = ("arcname", "data")

    def __init__(self, arcname: str, data: bytes) -> None:
        self.arcname = arcname
        self.data = data

    @property
    def executable(self) -> bool:
        """Programs and shared libraries get 0755, everything else 0644.

        Decided from the bytes, not the file's mode bits, which vary with umask, filesystem and
        checkout (protobuf's wheel marks every .py executable; a Windows clone marks nothing).
        """
        return self.data.startswith((b"\x7fELF", b"#!"))


def read_manifest(root: Path) -> dict[str, Any]:
    """pipeline.json's kinds and functions (the rest of it is Terraform's and the local stack's)."""
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        kinds, functions = manifest["kinds"], manifest["functions"]
        if not isinstance(kinds, list) or not isinstance(functions, dict):
            raise TypeError("'kinds' must be a list and 'functions' an object")
        for name, entry in functions.items():
            if entry.get("kind") not in kinds:
                raise TypeError(f"function {name!r} has kind {entry.get('kind')!r}, not one of {kinds}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BuildError(f"cannot read the functions from {path}: {e}") from None
    return {"kinds": kinds, "functions": functions}


def function_folders(root: Path) -> dict[str, str]:
    """Every function pipeline.json lists: name -> its folder KIND/NAME, in the manifest's order.

    A folder with a handler.py that pipeline.json does not list, or an entry without its folder, is an error:
    the build, the local stack and Terraform would disagree on what the pipeline holds.
    """
    manifest = read_manifest(root)
    listed = {name: f"{entry['kind']}/{name}" for name, entry in manifest["functions"].items()}
    found = {
        f"{kind}/{handler.parent.name}" for kind in manifest["kinds"] for handler in (root / kind).glob("*/handler.py")
    }
    problems = [
        f"{rel} has a handler.py but pipeline.json has no function {rel.split('/')[1]!r} of kind {rel.split('/')[0]!r}"
        for rel in sorted(found - set(listed.values()))
    ] + [f"pipeline.json lists {rel}, which has no handler.py" for rel in listed.values() if rel not in found]
    if problems:
        raise BuildError("; ".join(problems))
    return listed


def _is_excluded_file(name: str) -> bool:
    return name in EXCLUDED_FILES or name.endswith(EXCLUDED_SUFFIXES)


def _is_test_module(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _walk(base: Path, prefix: str, *, dependencies: bool = False) -> Iterator[Entry]:
    """Yield every file under base as an Entry named prefix + relative path, minus excluded files."""
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = Path(dirpath).relative_to(base)
        at_top = rel_dir == Path(".")
        kept = []
        for d in dirnames:
            if d in EXCLUDED_DIRS:
                continue
            if dependencies and (d in DEPENDENCY_EXCLUDED_DIRS or (at_top and d in DEPENDENCY_EXCLUDED_TOP)):
                continue
            if not dependencies and d in ("tests", "test"):
                continue
            kept.append(d)
        dirnames[:] = kept
        # pip's bookkeeping sits directly in <dist>.dist-info/; licences in its subfolders stay.
        in_dist_info = dependencies and len(rel_dir.parts) == 1 and rel_dir.parts[0].endswith(".dist-info")
        for f in filenames:
            if _is_excluded_file(f):
                continue
            if not dependencies and _is_test_module(f):
                continue
            if in_dist_info and f in DIST_INFO_EXCLUDED:
                continue
            path = Path(dirpath) / f
            if path.is_file():  # skips sockets, fifos and dangling links
                yield Entry(prefix + (rel_dir / f).as_posix(), path.read_bytes())


def _zipinfo(arcname: str, *, directory: bool, executable: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
    info.create_system = 3  # Unix, so unzip and Lambda honour the permission bits below.
    if directory:
        info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10  # 0x10: MS-DOS directory flag
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(entries: list[Entry], out: Path) -> None:
    """Write entries to out deterministically: sorted names, fixed timestamps, normalised modes."""
    by_name: dict[str, Entry] = {}
    for entry in entries:
        if entry.arcname in by_name:
            raise BuildError(f"two files would land at the same place in the zip: {entry.arcname}")
        by_name[entry.arcname] = entry
    directories = {
        "/".join(parts[:i]) + "/" for parts in (name.split("/") for name in by_name) for i in range(1, len(parts))
    }
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(directories | set(by_name)):
            if name in directories:
                zf.writestr(_zipinfo(name, directory=True), b"")
            else:
                entry = by_name[name]
                info = _zipinfo(name, directory=False, executable=entry.executable)
                # zlib's default level: a third of the time of level 9 for zips 0.5% larger.
                zf.writestr(info, entry.data, compresslevel=6)


def _dependency_entries(deps: Path, prefix: str) -> list[Entry]:
    if not deps.is_dir():
        raise BuildError(f"dependencies folder not found: {deps}")
    bundled = sorted(name for name in RUNTIME_PROVIDED if (deps / name).exists())
    if bundled:
        raise BuildError(
            f"the dependencies include {', '.join(bundled)}, which the Lambda runtime provides; "
            "remove whatever pulls them in from the requirements file"
        )
    return list(_walk(deps, prefix, dependencies=True))


def _manifest(out: Path, **fields: object) -> dict[str, object]:
    data = out.read_bytes()
    digest = hashlib.sha256(data).digest()
    with zipfile.ZipFile(out) as zf:
        files = sum(1 for info in zf.infolist() if not info.is_dir())
    manifest: dict[str, object] = dict(fields)
    manifest.update(
        {
            "zip": out.name,
            "sha256": digest.hex(),
            # What Lambda reports as CodeSha256 and Terraform expects in source_code_hash.
            "source_code_hash": base64.b64encode(digest).decode("ascii"),
            "size": len(data),
            "files": files,
        }
    )
    return manifest


def _write_manifest(path: Path, manifest: dict[str, object]) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build_function(
    root: Path,
    function_path: str,
    deps: Path,
    out_dir: Path,
    *,
    runtime: str,
    arch: str,
    builder: str,
    max_bytes: int,
) -> dict[str, object]:
    """Zip one function folder with shared/ and the dependencies; return its manifest."""
    parts = Path(function_path).parts
    kinds = read_manifest(root)["kinds"]
    if len(parts) != 2 or parts[0] not in kinds:
        raise BuildError(f"not a function folder: {function_path} (expected <{'|'.join(kinds)}>/<name>)")
    kind, name = parts
    folder = root / kind / name
    if not (folder / "handler.py").is_file():
        raise BuildError(f"no handler.py in {function_path}")
    shared = root / "shared"
    if not (shared / "__init__.py").is_file():
        raise BuildError(f"shared library not found: {shared}/__init__.py")

    kind_init = root / kind / "__init__.py"
    entries = [
        Entry(f"{kind}/__init__.py", kind_init.read_bytes() if kind_init.is_file() else b""),
        *_walk(folder, f"{kind}/{name}/"),
        *_walk(shared, "shared/"),
        *_dependency_entries(deps, ""),
    ]
    out = out_dir / f"{name}.zip"
    write_zip(entries, out)
    manifest = _manifest(
        out,
        name=name,
        kind=kind,
        handler=f"{kind}.{name}.handler.handler",
        runtime=runtime,
        architecture=arch,
        builder=builder,
    )
    size = int(str(manifest["size"]))
    if max_bytes and size > max_bytes:
        out.unlink()
        raise BuildError(f"{out.name} is {size} bytes, over the {max_bytes}-byte limit (MAX_ZIP_BYTES)")
    _write_manifest(out_dir / f"{name}.json", manifest)
    return manifest


def build_layer(deps: Path, out_dir: Path, *, runtime: str, arch: str, builder: str) -> dict[str, object]:
    """Zip the dependencies under python/, the folder Lambda puts on sys.path for layers."""
    out = out_dir / f"{LAYER_NAME}.zip"
    write_zip(_dependency_entries(deps, "python/"), out)
    manifest = _manifest(
        out,
        name=LAYER_NAME,
        compatible_runtimes=[runtime],
        compatible_architectures=[arch],
        runtime=runtime,
        architecture=arch,
        builder=builder,
    )
    _write_manifest(out_dir / f"{LAYER_NAME}.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", metavar="KIND/NAME", help="function folders, relative to --root")
    parser.add_argument("--root", type=Path, required=True, help="repository root (holds shared/, pipeline.json)")
    parser.add_argument("--list", action="store_true", help="print every function pipeline.json lists as KIND/NAME")
    parser.add_argument("--resolve", metavar="NAME", help="print the folder (KIND/NAME) of one function")
    parser.add_argument("--deps", type=Path, help="folder the dependencies were installed into")
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--runtime")
    parser.add_argument("--arch")
    parser.add_argument("--builder", help="recorded in the manifest: pip or docker")
    parser.add_argument("--layer", action="store_true", help="also write the dependencies layer")
    parser.add_argument("--max-bytes", type=int, default=int(os.environ.get("MAX_ZIP_BYTES", DEFAULT_MAX_BYTES)))
    args = parser.parse_args(argv)
    if args.list or args.resolve:
        return _discover(args.root, args.resolve)
    missing = [
        f"--{n.replace('_', '-')}" for n in ("deps", "out_dir", "runtime", "arch", "builder") if not getattr(args, n)
    ]
    if missing:
        parser.error(f"building needs {', '.join(missing)}")
    if not args.functions and not args.layer:
        parser.error("nothing to build: give function folders and/or --layer")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    common = {"runtime": args.runtime, "arch": args.arch, "builder": args.builder}
    try:
        for function_path in args.functions:
            m = build_function(args.root, function_path, args.deps, args.out_dir, max_bytes=args.max_bytes, **common)
            print(f"built {m['zip']}: {m['size']} bytes, {m['files']} files, handler {m['handler']}")
        if args.layer:
            m = build_layer(args.deps, args.out_dir, **common)
            print(f"built {m['zip']}: {m['size']} bytes, {m['files']} files")
    except (BuildError, OSError) as e:
        print(f"lambda_zip: error: {e}", file=sys.stderr)
        return 1
    return 0


def _discover(root: Path, name: str | None) -> int:
    try:
        folders = function_folders(root)
    except BuildError as e:
        print(f"lambda_zip: error: {e}", file=sys.stderr)
        return 1
    if name is None:
        print("\n".join(folders.values()))
        return 0
    if name not in folders:
        known = " ".join(folders) or "none"
        print(
            f"lambda_zip: error: unknown function '{name}': pipeline.json has no such function (known: {known})",
            file=sys.stderr,
        )
        return 1
    print(folders[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
