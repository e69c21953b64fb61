"""Chat Completions servers with a will of their own: one that refuses response formats as real servers do,
one that obeys whatever a ticket tells it; and llama-cpp-python's real server as a subprocess."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

from integrations.fake.server import Recorded
from tests.support.chat import ChatServer

# What llama-cpp-python 0.3.36 answers to {"type": "json_schema"} (HTTP 500), shortened.
LLAMA_CPP_PYTHON_REFUSAL = {
    "error": {
        "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
        "type": "internal_server_error",
    }
}
# What OpenAI answers to a response format a model does not support (HTTP 400).
OPENAI_REFUSAL = {
    "error": {
        "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "response_format",
    }
}


def rung(body: dict[str, Any]) -> str:
    """Which response format a recorded request asked for (the names of integrations/llm/settings.py)."""
    fmt = body.get("response_format")
    if fmt is None:
        return "text"
    if "guided_json" in body:
        return "guided_json"
    if fmt["type"] == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return str(fmt["type"])


class PickyChatServer(ChatServer):
    """Refuses the response formats in `refuses` with the status and body a real server sends."""

    def __init__(self, refuses: Iterable[str], status: int = 500, body: Any = None) -> None:
        self.refuses = set(refuses)
        self.refusal = (status, body or LLAMA_CPP_PYTHON_REFUSAL, {})
        super().__init__()

    def _complete(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if rung(request.body) in self.refuses:
            return self.refusal
        return super()._complete(m, request)


# Latin letters that Cyrillic and Greek look-alikes stand for, as an attacker uses them to dodge filters.
HOMOGLYPHS = str.maketrans("аеорсухіѕјԁһкмнтвαεορτυνκιβ", "aeopcyxisjdhkmhtbaeoptuvkib")


def deobfuscate(text: str) -> str:
    """The text as a capable model reads it: look-alikes folded, invisible characters dropped, lower case."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(HOMOGLYPHS)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


class ObedientChatServer(ChatServer):
    """A model that does what the ticket says: it answers the first of `targets` named in the ticket, with
    confidence 1.0, whatever labels it was offered and whatever schema it was given."""

    def __init__(self, targets: Iterable[str]) -> None:
        # Longest first, so "lost_or_stolen_card" wins over a shorter target inside it.
        self.targets = sorted(set(targets), key=len, reverse=True)
        self.obeyed: list[str | None] = []
        super().__init__()

    def demand(self, ticket: str) -> str | None:
        """The target the ticket asks for, written with _, spaces or hyphens; the earliest one named."""
        text = deobfuscate(ticket)
        found: list[tuple[int, str]] = []
        for target in self.targets:
            pattern = r"[\s_\-]*".join(re.escape(part) for part in re.split(r"[\s_\-]+", target.lower()))
            match = re.search(pattern, text)
            if match:
                found.append((match.start(), target))
        return min(found)[1] if found else None

    def _complete(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        content = request.body["messages"][-1]["content"]
        ticket = content.rsplit("<ticket>", 1)[-1]
        wanted = self.demand(ticket)
        self.obeyed.append(wanted)
        self.answers.append({"label": wanted or "unsure", "confidence": 1.0})
        return super()._complete(m, request)


def offered_labels(request: Recorded) -> list[str]:
    """The labels a recorded request offered the model (the 'Allowed labels:' line), without 'unsure'."""
    content = request.body["messages"][-1]["content"]
    line = content.split("\n", 1)[0].removeprefix("Allowed labels: ")
    return [label for label in line.split(", ") if label != "unsure"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_cpp_server(model: Path, log_path: Path, threads: int = 2, timeout: float = 60) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback with this GGUF; yields its /v1 base URL."""
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            # Reference: https://llama-cpp-python.readthedocs.io/en/latest/server/
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                str(threads),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    tail = log_path.read_text()[-3000:]
                    raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{base}/models", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server not up after {timeout} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
