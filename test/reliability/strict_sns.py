"""An in-process SNS topic that enforces the Publish rules moto does not check.

moto's SNS takes any Subject and any MessageGroupId; real SNS refuses, with InvalidParameter, a Subject that is
not ASCII, starts with something other than a letter, number or punctuation mark, holds a line break or control
character or is 100 characters or longer, and a MessageGroupId or MessageDeduplicationId that is not 1 to 128
ASCII letters, digits and punctuation (the Publish API reference). This stand-in applies those rules, drops a
repeated MessageDeduplicationId as a FIFO topic does inside its deduplication interval, and can fail chosen
publishes the way a throttled or refusing SNS does.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

ID_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)
SUBJECT_FIRST = frozenset(string.ascii_letters + string.digits + string.punctuation)


def subject_problem(subject: str) -> str | None:
    """Why SNS would refuse this Subject, or None."""
    if not subject:
        return "Subject must not be empty"
    if len(subject) >= 100:
        return "Subject must be less than 100 characters long"
    if not subject.isascii():
        return "Subject must be ASCII text"
    if any(c < " " or c == "\x7f" for c in subject):
        return "Subject must not include line breaks or control characters"
    if subject[0] not in SUBJECT_FIRST:
        return "Subject must begin with a letter, number or punctuation mark"
    return None


def id_problem(name: str, value: str) -> str | None:
    """Why SNS would refuse this MessageGroupId / MessageDeduplicationId, or None."""
    if not 1 <= len(value) <= 128:
        return f"{name} must be 1 to 128 characters long"
    if not set(value) <= ID_CHARS:
        return f"{name} can contain only alphanumeric characters and punctuation"
    return None


def _error(code: str, status: int, message: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Publish"
    )


class StrictSns:
    """``publish`` as a FIFO topic answers it. ``fail(request) -> ClientError | None`` injects failures."""

    def __init__(self, fail: Callable[[dict[str, Any]], ClientError | None] = lambda request: None) -> None:
        self.fail = fail
        self.delivered: list[dict[str, Any]] = []  # message bodies, in order
        self.duplicates = 0  # publishes dropped for a repeated deduplication id
        self.refused = 0
        self._seen: set[str] = set()

    def publish(self, **request: Any) -> dict[str, Any]:
        problems = [subject_problem(request.get("Subject", "x"))]
        for name in ("MessageGroupId", "MessageDeduplicationId"):
            if name not in request:
                problems.append(f"{name} is required for a FIFO topic")
            else:
                problems.append(id_problem(name, request[name]))
        problem = next((p for p in problems if p), None)
        if problem:
            self.refused += 1
            raise _error("InvalidParameter", 400, f"Invalid parameter: {problem}")
        injected = self.fail(request)
        if injected is not None:
            raise injected
        dedup = request["MessageDeduplicationId"]
        if dedup in self._seen:
            self.duplicates += 1
        else:
            self._seen.add(dedup)
            self.delivered.append(json.loads(request["Message"]))
        return {"MessageId": f"m-{len(self.delivered)}", "SequenceNumber": str(len(self.delivered))}


def throttled() -> ClientError:
    return _error("Throttled", 429, "Rate exceeded")


def refused() -> ClientError:
    return _error("AuthorizationError", 403, "not authorized to perform SNS:Publish")
