"""The ops app over ASGI (service.asgi_ops): a throttled refusal is held back without a thread, everything else
goes out at once, and the WSGI app sees the request as a WSGI server would give it."""

import asyncio
import time

import pytest

from service import create_app
from service.web.tarpit import MAX_BODY, Tarpit, environ
from tests.support.settings import make_settings

HOLD_S = 0.4


@pytest.fixture
def ops_app(sqlite_url, models_dir):
    # Two requests a minute per address, so the third is refused; kombu's filesystem broker answers at once.
    settings = make_settings(
        sqlite_url, models_dir, drafting_model="none", broker_url="filesystem://", ops_rate_limit="2/minute"
    )
    app = create_app(settings, environ={}, ops_only=True)
    yield app
    app.extensions["triage"].db.dispose()


def scope(path, address, *, method="GET", headers=()):
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": list(headers),
        "client": (address, 40000),
        "server": ("127.0.0.1", 9100),
        "scheme": "http",
        "http_version": "1.1",
    }


async def ask(app, path, address, *, body=b""):
    """One request as an ASGI server makes it: (status, seconds until the answer started, body)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    started = time.monotonic()
    await app(scope(path, address), receive, send)
    head, tail = sent
    return head["status"], time.monotonic() - started, tail["body"]


def test_a_refusal_is_held_back_and_holds_no_thread_while_others_are_answered(ops_app):
    # One thread: if a held refusal kept it, the other address's request would wait behind it.
    tarpit = Tarpit(ops_app.wsgi_app, hold_s=HOLD_S, threads=1)

    async def scenario():
        first = [await ask(tarpit, "/readyz", "10.0.0.66") for _ in range(2)]
        refused = asyncio.create_task(ask(tarpit, "/readyz", "10.0.0.66"))
        await asyncio.sleep(0.05)  # the refusal is computed and now held
        other = await ask(tarpit, "/metrics", "10.0.0.7")
        return first, other, refused.done(), await refused

    first, other, done_before_other, refused = asyncio.run(scenario())
    assert [status for status, _, _ in first] == [200, 200]
    assert all(seconds < HOLD_S for _, seconds, _ in first)
    assert refused[0] == 429 and refused[1] >= HOLD_S and b"retry in" in refused[2]
    assert other[0] == 200 and other[1] < HOLD_S and b"triage_" in other[2]
    assert not done_before_other  # the held refusal was still waiting when the other answer went out


def test_liveness_and_other_answers_are_not_held(ops_app):
    tarpit = Tarpit(ops_app.wsgi_app, hold_s=HOLD_S)
    status, seconds, body = asyncio.run(ask(tarpit, "/healthz", "10.0.0.66"))
    assert (status, body) == (200, b'{"status":"ok"}\n') and seconds < HOLD_S
    status, _, _ = asyncio.run(ask(tarpit, "/no-such-page", "10.0.0.66"))
    assert status == 404


def test_a_body_too_large_for_an_ops_request_is_refused_before_the_app(ops_app):
    tarpit = Tarpit(ops_app.wsgi_app, hold_s=HOLD_S)
    status, _, body = asyncio.run(ask(tarpit, "/healthz", "10.0.0.66", body=b"x" * (MAX_BODY + 1)))
    assert status == 413 and b"too large" in body


def test_the_wsgi_environ_carries_the_request_as_pep_3333_says():
    env = environ(
        {
            **scope(
                "/metrics",
                "192.0.2.1",
                headers=[(b"accept", b"text/plain"), (b"accept", b"*/*"), (b"content-type", b"application/json")],
            ),
            "query_string": b"name[]=a",
        },
        b"{}",
    )
    assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"]) == ("GET", "/metrics", "name[]=a")
    assert env["REMOTE_ADDR"] == "192.0.2.1" and env["SERVER_PORT"] == "9100"
    assert env["HTTP_ACCEPT"] == "text/plain,*/*" and env["CONTENT_TYPE"] == "application/json"
    assert env["wsgi.input"].read() == b"{}" and env["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_the_server_lifespan_is_answered():
    tarpit = Tarpit(lambda env, start: [], hold_s=HOLD_S)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(tarpit({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
