"""Integration fixtures: handlers imported against the session's local stack, and a fresh mapping per test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.stack import FUNCTIONS, load_handler

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def produce(local_stack: Any) -> Callable[..., Any]:
    return load_handler(FUNCTIONS["error_source"])


@pytest.fixture(scope="session")
def sink(local_stack: Any) -> Callable[..., Any]:
    return load_handler(FUNCTIONS["error_sink"])


@pytest.fixture
def mapping(local_stack: Any, db: Any) -> Any:
    """error_sink's event source mapping, starting after whatever earlier tests left in the stream."""
    esm = local_stack.mapping("error_sink", window_s=0.0)
    esm.seek_to_end()
    return esm


def counts(db: Any) -> tuple[int, int]:
    with db.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM errors), (SELECT count(*) FROM dead_letters)")
        rows, dead = cur.fetchone()
    return rows, dead
