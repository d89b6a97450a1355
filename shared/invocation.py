"""What a handler knows of its invocation: how long it may still run."""

from __future__ import annotations

from typing import Any

__all__ = ["MARGIN_S", "time_left_s"]

MARGIN_S = 2.0  # kept back for the handler's own return (metrics, the response) after its last wait


def time_left_s(context: Any, margin_s: float = MARGIN_S) -> float:
    """Seconds the invocation may still wait before it must return; 0.0 without a Lambda context.

    Lambda's context object gives ``get_remaining_time_in_millis()``; a direct call (a test, a script) passes
    None, and then no wait is allowed beyond what the callee does by default.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return 0.0
    return max(0.0, remaining() / 1000 - margin_s)
