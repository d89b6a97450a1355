"""A Kinesis endpoint that throttles: a proxy to moto that fails a share of PutRecords entries.

Failed entries are not forwarded, exactly as Kinesis does not store an entry it answers with
ProvisionedThroughputExceededException; everything else passes through untouched.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PUT_RECORDS = "Kinesis_20131202.PutRecords"


class ThrottlingProxy:
    def __init__(self, upstream: str, *, failure_rate: float, seed: int = 7) -> None:
        self.upstream = upstream.rstrip("/")
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self.entries_failed = 0
        self.entries_forwarded = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in headers.items() if k.lower() not in {"host", "content-length"}}
        request = urllib.request.Request(self.upstream + path, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _put_records(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        records = request["Records"]
        with self._lock:
            fail = [self.rng.random() < self.failure_rate for _ in records]
        kept = [r for r, f in zip(records, fail, strict=True) if not f]
        results: list[dict[str, Any]] = []
        if kept:
            status, out_headers, out = self._forward(path, headers, json.dumps({**request, "Records": kept}).encode())
            if status != 200:
                return status, out_headers, out
            results = json.loads(out)["Records"]
        with self._lock:
            self.entries_failed += sum(fail)
            self.entries_forwarded += len(kept)
        merged, it = [], iter(results)
        for failed in fail:
            if failed:
                merged.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
            else:
                merged.append(next(it))
        reply = {"FailedRecordCount": sum(1 for m in merged if "ErrorCode" in m), "Records": merged}
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(reply).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                if headers.get("X-Amz-Target") == PUT_RECORDS:
                    status, out_headers, out = proxy._put_records(self.path, headers, body)
                else:
                    status, out_headers, out = proxy._forward(self.path, headers, body)
                self.send_response(status)
                for key, value in out_headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection", "date", "server"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
