"""pipeline.json is the one list of functions, streams and mappings: every function folder has an entry and every
entry a folder, and local/manifest.py refuses an entry the readers could not use, naming what is wrong."""

from __future__ import annotations

import copy
import json

import pytest

from local import manifest
from local.stack import FUNCTIONS, MAPPINGS, ROOT, STREAMS

MANIFEST = manifest.load()


def _folders() -> dict[str, str]:
    """Every folder with a handler.py under a kind's folder: name -> kind."""
    return {path.parent.name: kind for kind in MANIFEST["kinds"] for path in sorted((ROOT / kind).glob("*/handler.py"))}


def test_every_function_folder_has_an_entry_and_every_entry_a_folder() -> None:
    entries = {name: f["kind"] for name, f in MANIFEST["functions"].items()}
    assert _folders() == entries


def test_no_function_folder_outside_the_manifests_kinds() -> None:
    stray = [
        str(p.relative_to(ROOT))
        for p in ROOT.glob("*/*/handler.py")
        if p.parts[-3] not in MANIFEST["kinds"] and p.parts[-3] not in ("test", ".venv", "target")
    ]
    assert stray == []


def test_the_local_stack_runs_what_the_manifest_lists() -> None:
    assert {n: f"{f['kind']}.{n}.handler.handler" for n, f in MANIFEST["functions"].items()} == FUNCTIONS
    assert set(STREAMS) == set(MANIFEST["streams"])
    assert [(f, s) for f, s, _ in MAPPINGS] == [(m["function"], m["stream"]) for m in MANIFEST["mappings"].values()]


def test_every_local_override_gives_a_reason() -> None:
    local = MANIFEST["local"]
    for section in ("mapping_overrides", "streams", "environment"):
        for name, entry in local[section].items():
            assert entry["reason"].strip(), f"local.{section}.{name}"


def test_terraform_computed_environment_has_a_local_value() -> None:
    """A name Terraform computes (terraform_environment) must have a local value, or the local stack lacks it."""
    names = {n for f in MANIFEST["functions"].values() for n in f["terraform_environment"]}
    assert names <= set(manifest.local_environment(MANIFEST))


def _broken(edit: str) -> dict:
    m = copy.deepcopy(MANIFEST)
    exec(edit, {"m": m})  # noqa: S102 - test-local edits of a copy
    return m


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("del m['functions']['error_sink']['timeout']", "functions.error_sink has no 'timeout'"),
        ("m['functions']['error_sink']['memory_size'] = '1024'", "'memory_size' is '1024', expected int"),
        ("m['functions']['error_sink']['database'] = 1", "'database' is 1, expected bool"),
        ("m['functions']['error_sink']['memorysize'] = 1", "unknown field 'memorysize'"),
        ("m['functions']['error_sink']['kind'] = 'consumer'", "kind 'consumer' is not one of"),
        ("m['functions']['error_source']['stream_env'] = {'STREAM_NAME': 'nope'}", "names no stream 'nope'"),
        ("m['mappings']['error_sink_errors']['function'] = 'nope'", "function 'nope' is not in functions"),
        ("del m['mappings']['error_alert_errors']['batch_size']", "mappings.error_alert_errors has no 'batch_size'"),
        ("m['mappings']['x'] = dict(m['mappings']['error_sink_errors'])", "already reads errors"),
        ("m['local']['mapping_overrides']['batch_size'] = {'value': 1, 'reason': 'r'}", "unknown override"),
        ("m['local']['streams']['errors']['reason'] = ''", "local.streams.errors needs a reason"),
        ("m['functions']['bad-name'] = m['functions']['migrate']", "must be a Python identifier"),
    ],
)
def test_a_bad_entry_is_refused_with_its_name(edit: str, message: str) -> None:
    with pytest.raises(manifest.ManifestError, match=None) as e:
        manifest.check(_broken(edit))
    assert message in str(e.value)


def test_the_file_is_plain_json_every_reader_can_parse() -> None:
    data = json.loads((ROOT / "pipeline.json").read_text())
    assert set(data) >= {"kinds", "streams", "topics", "functions", "mappings", "local"}


def test_the_file_is_in_the_form_new_writes_it() -> None:
    """`python -m local new` rewrites pipeline.json with dump_manifest: kept in that form, its diff is the entry."""
    from local.scaffold import dump_manifest

    text = (ROOT / "pipeline.json").read_text(encoding="utf-8")
    assert text == dump_manifest(json.loads(text))
