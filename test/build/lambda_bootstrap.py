"""Invokes a handler the way the Lambda Python runtime does, from an unpacked zip and nothing else.

Run with the runtime's interpreter in isolated mode without site-packages:
    python3.12 -I -S lambda_bootstrap.py TASK_DIR RUNTIME_DIR HANDLER EVENT_JSON RESULT_JSON

sys.path becomes TASK_DIR (the unpacked zip, Lambda's /var/task), RUNTIME_DIR (boto3 and botocore,
Lambda's /var/runtime) and the standard library. The handler string is resolved like the runtime's
bootstrap: import the module part, getattr the function. RESULT_JSON receives the handler's return
value (or the error) and where every imported module came from. Standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers use."""

    def __init__(self, function_name: str, timeout_s: float = 30) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = "256"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/22/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def module_origins(allowed: tuple[str, ...]) -> dict[str, str]:
    """Modules imported from anywhere but the allowed folders (the task, the runtime, the stdlib)."""
    strays = {}
    for name, module in sorted(sys.modules.items()):
        if name in ("__main__", "__mp_main__"):  # this script
            continue
        path = getattr(module, "__file__", None)
        if path and not os.path.realpath(path).startswith(allowed):
            strays[name] = path
    return strays


def main() -> None:
    task_dir, runtime_dir, handler_string, event_path, result_path = sys.argv[1:]
    stdlib = [p for p in sys.path if p and "site-packages" not in p]
    sys.path[:] = [task_dir, runtime_dir, *stdlib]
    os.chdir(task_dir)
    allowed = tuple(os.path.realpath(p) + os.sep for p in (task_dir, runtime_dir, sys.base_prefix))

    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    result: dict[str, object] = {"python": sys.version.split()[0], "sys_path": sys.path}
    try:
        module_name, _, function_name = handler_string.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
        result["module_file"] = sys.modules[module_name].__file__
        result["response"] = handler(event, LambdaContext(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "test")))
        result["ok"] = True
    except BaseException as e:  # everything the runtime would report as an invocation error
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    result["strays"] = module_origins(allowed)
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=str)


if __name__ == "__main__":
    main()
