"""An ASGI server's view of a WSGI app that holds its refusals back: the ops app's defence against a flood.

Each request runs the WSGI app in a small thread pool, as a WSGI server would. A 429 (the ops gate's throttle) is
then held for `hold_s` on the event loop, with no thread: a client that floods over keep-alive connections waits
for each answer, so it sends one request a connection per hold instead of thousands a second, and the
refusals cost the CPU that intake needs almost nothing. Every other answer goes out at once.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.web.ops import WsgiApp

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HOLD_S = 1.0
# The ops endpoints are GETs: a body larger than this is refused before the WSGI app sees it.
MAX_BODY = 64 * 1024


class Tarpit:
    """ASGI app: the WSGI app in `threads` threads, and each 429 held `hold_s` seconds before it is sent."""

    def __init__(self, wsgi: WsgiApp, *, hold_s: float = HOLD_S, threads: int = 2) -> None:
        self.wsgi, self.hold_s = wsgi, hold_s
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="ops")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            body = await _body(receive)
            if body is None:
                status, headers, content = 413, [("Content-Type", "text/plain")], b"request body too large\n"
            else:
                loop = asyncio.get_running_loop()
                status, headers, content = await loop.run_in_executor(self.pool, self._call, environ(scope, body))
            if status == 429:
                await asyncio.sleep(self.hold_s)
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": content})

    def _call(self, env: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = [int(status.split(" ", 1)[0]), headers]
            return lambda data: None  # the legacy write() callable; Flask never uses it

        chunks = self.wsgi(env, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return started[0], started[1], content


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP scope."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        env[key] = f"{env[key]},{value}" if key in env else value
    return env


async def _body(receive: Receive) -> bytes | None:
    """The request's body, or None when it is larger than MAX_BODY."""
    parts, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        part = message.get("body", b"")
        size += len(part)
        if size > MAX_BODY:
            return None
        parts.append(part)
        more = message.get("more_body", False)
    return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
