"""Session fixtures: a real local stack (moto server + embedded PostgreSQL), started once for the run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", module="platformdirs")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole local stack, with its settings put in os.environ so handlers import against it."""
    from local.postgres import free_port
    from local.stack import LocalStack

    stack = LocalStack(Path(tmp_path_factory.mktemp("stack")), moto_port=free_port())
    saved = dict(os.environ)
    try:
        stack.start()
        stack.activate()
        yield stack
    finally:
        stack.stop()
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
