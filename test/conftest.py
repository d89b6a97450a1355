"""Session fixtures: a real local stack (moto server + embedded PostgreSQL), started once for the run."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

warnings.filterwarnings("ignore", module="platformdirs")


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A folder for a stack's data. Not under pytest's tmp folder: as root the embedded server runs as
    another user, and every pytest run on the machine resets /tmp/pytest-of-root to mode 0700."""
    path = Path(tempfile.mkdtemp(prefix="evpipe-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """The whole local stack, with its settings put in os.environ so handlers import against it."""
    from local.postgres import free_port
    from local.stack import LocalStack

    path = Path(tempfile.mkdtemp(prefix="evpipe-stack-"))
    stack = LocalStack(path, moto_port=free_port())
    saved = dict(os.environ)
    try:
        stack.start()
        stack.activate()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(path, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def db(local_stack: object) -> Iterator[object]:
    """A connection to the stack's database, with the sink tables emptied before the test."""
    import psycopg2

    conn = psycopg2.connect(local_stack.database_url)  # type: ignore[attr-defined]
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("TRUNCATE errors, dead_letters")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def produce(local_stack: object) -> Any:
    """error_source's handler, imported against the local stack."""
    from local.stack import FUNCTIONS, load_handler

    return load_handler(FUNCTIONS["error_source"])


@pytest.fixture(scope="session")
def sink(local_stack: object) -> Any:
    """error_sink's handler, imported against the local stack."""
    from local.stack import FUNCTIONS, load_handler

    return load_handler(FUNCTIONS["error_sink"])


@pytest.fixture
def mapping(local_stack: Any, db: object) -> Any:
    """error_sink's event source mapping, starting after whatever earlier tests left in the stream."""
    esm = local_stack.mapping("error_sink", window_s=0.0)
    esm.seek_to_end()
    return esm
