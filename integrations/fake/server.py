"""Loopback HTTP servers that play a helpdesk's API in tests and demos: record, answer, fail on demand."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A handler gets (match, request) and returns (status, json body or None, extra headers).
Handler = Callable[[re.Match[str], "Recorded"], tuple[int, Any, dict[str, str]]]


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int = 0


class RecordingServer:
    """Routes (method, path regex) to handlers; records every request; scripted failures come first."""

    def __init__(self, routes: list[tuple[str, str, Handler]] | None = None, host: str = "127.0.0.1") -> None:
        self.routes = [(m, re.compile(p + r"$"), h) for m, p, h in routes or []]
        self.requests: list[Recorded] = []
        self._script: list[tuple[int, Any, dict[str, str]]] = []
        self._storms: list[tuple[float, float, tuple[int, Any, dict[str, str]]]] = []  # (start, end, answer)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                path, _, query = self.path.partition("?")
                recorded = Recorded(self.command, path, query, dict(self.headers), body)
                status, payload, headers = outer._answer(recorded)
                recorded.status = status
                with outer._lock:
                    outer.requests.append(recorded)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server naming

            def log_message(self, *args: Any) -> None:
                pass

        return RequestHandler

    def _answer(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            now = time.monotonic()
            for start, end, answer in self._storms:
                if start <= now < end:
                    return answer
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                return handler(match, request)
        return 404, {"error": f"no route for {request.method} {request.path}"}, {}

    def start(self) -> RecordingServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: Any = None) -> None:
        """The next `times` requests, whatever they are, get this answer."""
        with self._lock:
            self._script.extend([(status, body or {"error": f"scripted failure {status}"}, headers or {})] * times)

    def storm(self, status: int, seconds: float, headers: dict[str, str] | None = None) -> None:
        """Answer every request with `status` for `seconds`, starting when the storms already set end."""
        # Time-bound, unlike fail(): a storm hits however many calls arrive meanwhile, e.g.
        # storm(429, 5, {"Retry-After": "1"}) then storm(500, 5) for ten seconds of trouble.
        with self._lock:
            start = max([time.monotonic(), *(end for _, end, _ in self._storms)])
            answer = (status, {"error": f"storm {status}"}, headers or {})
            self._storms.append((start, start + seconds, answer))

    def successful(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.status < 300]


class FakeHelpdeskServer(RecordingServer):
    """The fake helpdesk's API: PUT /api/tickets/<id>/triage records a write-back."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(
            [("PUT", r"/api/tickets/(?P<id>[^/]+)/triage", lambda m, r: (200, {"ok": True}, {}))], host=host
        )
