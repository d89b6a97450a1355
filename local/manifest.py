"""pipeline.json, the pipeline's topology, as the local stack reads it: checked, then turned into the functions'
handler strings, the streams with their local shard counts, and the event source mappings with the local
overrides applied.

Terraform reads the same file (terraform/modules/manifest types it), and so does the build
(tools/lambda_zip.py); docs/architecture.md describes every field.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from local.esm import MappingConfig

__all__ = [
    "FUNCTION_FIELDS",
    "MAPPING_FIELDS",
    "PATH",
    "ManifestError",
    "function_handlers",
    "load",
    "local_environment",
    "mappings",
    "streams",
]

ROOT = Path(__file__).resolve().parent.parent
PATH = ROOT / "pipeline.json"

# Every field an entry must carry, and the JSON types it may hold: the same fields Terraform's
# modules/manifest requires, so an entry the local stack accepts is one the plan accepts.
_STR, _INT, _NUM, _BOOL, _OBJ, _LIST, _NULL = str, int, (int, float), bool, dict, list, type(None)
FUNCTION_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (_STR,),
    "description": (_STR,),
    "memory_size": (_INT,),
    "timeout": (_INT,),
    "database": (_BOOL,),
    "db_user": (_STR, _NULL),
    "stream_env": (_OBJ,),
    "topic_env": (_OBJ,),
    "environment": (_OBJ,),
    "terraform_environment": (_LIST,),
    "function_url": (_BOOL,),
    "async": (_BOOL,),
    "dead_letters": (_BOOL,),
}
MAPPING_FIELDS: dict[str, tuple[type, ...]] = {
    "function": (_STR,),
    "stream": (_STR,),
    "batch_size": (_INT,),
    "maximum_batching_window_in_seconds": (*_NUM,),
    "parallelization_factor": (_INT,),
    "maximum_retry_attempts": (_INT,),
    "maximum_record_age_in_seconds": (_INT, _NULL),
    "bisect_batch_on_function_error": (_BOOL,),
    "report_batch_item_failures": (_BOOL,),
    "tumbling_window_in_seconds": (_INT, _NULL),
    "starting_position": (_STR,),
    "starting_position_timestamp": (_STR, _NULL),
}
# The local overrides pipeline.json may name ("local" -> "mapping_overrides"), each with a value and a reason.
MAPPING_OVERRIDES = (
    "maximum_batching_window_in_seconds",
    "retry_delay_seconds",
    "on_failure_destination",
    "maximum_record_age_in_seconds",
)
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account


class ManifestError(ValueError):
    """pipeline.json is not what the readers expect; the message names the entry and the field."""


def _check_fields(where: str, entry: Any, fields: dict[str, tuple[type, ...]], problems: list[str]) -> None:
    if not isinstance(entry, dict):
        problems.append(f"{where} must be an object")
        return
    for name, types in fields.items():
        if name not in entry:
            problems.append(f"{where} has no {name!r}")
        elif not isinstance(entry[name], types) or (isinstance(entry[name], bool) and bool not in types):
            problems.append(f"{where}: {name!r} is {entry[name]!r}, expected {' or '.join(t.__name__ for t in types)}")
    for name in entry.keys() - fields.keys():
        problems.append(f"{where}: unknown field {name!r}")


def check(manifest: Any) -> None:
    """ManifestError naming every problem: missing, mistyped or unknown fields, references to nothing."""
    problems: list[str] = []
    if not isinstance(manifest, dict):
        raise ManifestError("pipeline.json must hold a JSON object")
    for section in ("kinds", "streams", "topics", "functions", "mappings", "local"):
        if section not in manifest:
            problems.append(f"pipeline.json has no {section!r} section")
    if problems:
        raise ManifestError("; ".join(problems))
    kinds, streams_, topics = manifest["kinds"], manifest["streams"], manifest["topics"]
    for name, f in manifest["functions"].items():
        where = f"functions.{name}"
        if not name.isidentifier():
            problems.append(f"{where}: the name must be a Python identifier (it is part of the handler's module path)")
        _check_fields(where, f, FUNCTION_FIELDS, problems)
        if not isinstance(f, dict):
            continue
        if f.get("kind") not in kinds:
            problems.append(f"{where}: kind {f.get('kind')!r} is not one of {kinds}")
        for env, stream in dict(f.get("stream_env") or {}).items():
            if stream not in streams_:
                problems.append(f"{where}: stream_env {env} names no stream {stream!r}")
        for env, topic in dict(f.get("topic_env") or {}).items():
            if topic not in topics:
                problems.append(f"{where}: topic_env {env} names no topic {topic!r}")
    pairs = set()
    for key, m in manifest["mappings"].items():
        where = f"mappings.{key}"
        _check_fields(where, m, MAPPING_FIELDS, problems)
        if not isinstance(m, dict):
            continue
        if m.get("function") not in manifest["functions"]:
            problems.append(f"{where}: function {m.get('function')!r} is not in functions")
        if m.get("stream") not in streams_:
            problems.append(f"{where}: stream {m.get('stream')!r} is not in streams")
        pair = (m.get("function"), m.get("stream"))
        if pair in pairs:
            problems.append(f"{where}: {pair[0]} already reads {pair[1]} through another mapping")
        pairs.add(pair)
    local = manifest["local"]
    for name, override in local.get("mapping_overrides", {}).items():
        if name not in MAPPING_OVERRIDES:
            known = ", ".join(MAPPING_OVERRIDES)
            problems.append(f"local.mapping_overrides: unknown override {name!r}; known: {known}")
        if not isinstance(override, dict) or set(override) != {"value", "reason"} or not override.get("reason"):
            problems.append(f"local.mapping_overrides.{name} must be {{'value': ..., 'reason': 'why'}}")
    if "maximum_record_age_in_seconds" not in local.get("mapping_overrides", {}) and any(
        isinstance(m, dict) and m.get("maximum_record_age_in_seconds") is None for m in manifest["mappings"].values()
    ):
        problems.append("a mapping's record age is null (the stage's) but local.mapping_overrides gives no local one")
    for name in streams_:
        if name not in local.get("streams", {}):
            problems.append(f"local.streams has no {name!r}: the local stack needs its shard count")
    for section in ("streams", "environment"):
        for name, entry in local.get(section, {}).items():
            if not isinstance(entry, dict) or not entry.get("reason"):
                problems.append(f"local.{section}.{name} needs a reason")
    if problems:
        raise ManifestError("; ".join(problems))


def load(path: Path = PATH) -> dict[str, Any]:
    """pipeline.json, checked."""
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ManifestError(f"cannot read {path}: {e}") from None
    check(manifest)
    return manifest


def function_handlers(manifest: dict[str, Any]) -> dict[str, str]:
    """Function name -> its handler string, as Lambda resolves it (<kind>.<name>.handler.handler)."""
    return {name: f"{f['kind']}.{name}.handler.handler" for name, f in manifest["functions"].items()}


def streams(manifest: dict[str, Any]) -> dict[str, int]:
    """Stream name -> the local stack's shard count."""
    return {name: int(manifest["local"]["streams"][name]["shard_count"]) for name in manifest["streams"]}


def local_environment(manifest: dict[str, Any]) -> dict[str, str]:
    """The local values of the environment Terraform computes (terraform_environment), by name."""
    return {name: str(entry["value"]) for name, entry in manifest["local"].get("environment", {}).items()}


def override(manifest: dict[str, Any], name: str, default: Any = None) -> Any:
    entry = manifest["local"].get("mapping_overrides", {}).get(name)
    return default if entry is None else entry["value"]


def _timestamp(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def mapping_config(manifest: dict[str, Any], m: dict[str, Any]) -> MappingConfig:
    """One mapping's settings as the emulator takes them: pipeline.json's, with the local overrides applied."""
    destination = override(manifest, "on_failure_destination")
    if destination is not None:
        service, _, name = str(destination).format(function=m["function"], stream=m["stream"]).partition(":")
        destination = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"
    record_age = m["maximum_record_age_in_seconds"]
    config = MappingConfig(
        batch_size=m["batch_size"],
        window_s=override(manifest, "maximum_batching_window_in_seconds", m["maximum_batching_window_in_seconds"]),
        parallelization=m["parallelization_factor"],
        max_retries=m["maximum_retry_attempts"],
        max_record_age_s=record_age if record_age is not None else override(manifest, "maximum_record_age_in_seconds"),
        bisect=m["bisect_batch_on_function_error"],
        report_item_failures=m["report_batch_item_failures"],
        tumbling_window_s=m["tumbling_window_in_seconds"] or 0,
        starting_position=m["starting_position"],
        starting_timestamp=_timestamp(m["starting_position_timestamp"]),
        retry_delay_s=override(manifest, "retry_delay_seconds", 0.0),
        destination=destination,
    )
    config.validate()
    return config


def mappings(manifest: dict[str, Any]) -> list[tuple[str, str, MappingConfig]]:
    """(function, stream, settings) of every mapping, in pipeline.json's order."""
    return [(m["function"], m["stream"], mapping_config(manifest, m)) for m in manifest["mappings"].values()]
