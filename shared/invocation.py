"""What a handler knows of its invocation: how long it may still run."""

from __future__ import annotations

from typing import Any

__all__ = ["MARGIN_S", "remaining_ms", "time_left_s"]

MARGIN_S = 2.0  # kept back for the handler's own return (metrics, the response) after its last wait


def remaining_ms(context: Any) -> int | None:
    """Lambda's ``context.get_remaining_time_in_millis()``; None for a direct call (a test, a script) without one."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else int(remaining())


def time_left_s(context: Any, margin_s: float = MARGIN_S) -> float:
    """Seconds the invocation may still wait before it must return; 0.0 without a Lambda context, where no wait
    is allowed beyond what the callee does by default."""
    remaining = remaining_ms(context)
    return 0.0 if remaining is None else max(0.0, remaining / 1000 - margin_s)
