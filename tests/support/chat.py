"""A local server that speaks the Chat Completions protocol: scripted answers, failures and slowness."""

from __future__ import annotations

import functools
import json
import re
import time
from pathlib import Path
from typing import Any

from integrations.fake.server import Recorded, RecordingServer

PII_DATA = Path(__file__).resolve().parents[1] / "data" / "pii"
PII_CORPUS = PII_DATA / "corpus.jsonl"
# Shorter values (a CVV, a first name such as "Tom") also occur as parts of ordinary words and numbers.
_MIN_CHECKED = 5


@functools.cache
def corpus_entities() -> tuple[str, ...]:
    """Every labelled personal-data value of the PII corpus and held-out sets, as it is written there."""
    values = set()
    lines = [
        line for path in sorted(PII_DATA.glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines()
    ]
    for line in lines:
        row = json.loads(line)
        values.update(row["text"][e["start"] : e["end"]] for e in row["entities"])
    return tuple(sorted(v for v in values if len(v) >= _MIN_CHECKED))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def corpus_entities_in(body: Any) -> list[str]:
    """The corpus values that a request body carries as whole words, in any of its strings."""
    text = "\n".join(_strings(body))
    return [v for v in corpus_entities() if v in text and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", text)]


class ChatServer(RecordingServer):
    """POST /v1/chat/completions answers with the next scripted content (a dict is sent as JSON text).

    On stop it fails if any request it received carried a value of the PII corpus: nothing that the
    suite sends to an LLM may hold personal data that the redactor should have replaced.
    """

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.delay_s = 0.0
        super().__init__([("POST", r"/v1/chat/completions", self._complete)])

    def stop(self) -> None:
        super().stop()
        leaked = sorted({v for request in self.requests for v in corpus_entities_in(request.body)})
        assert not leaked, f"personal data from tests/data/pii reached the LLM server: {leaked[:5]}"

    def _complete(self, m: Any, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        answer = self.answers.pop(0) if self.answers else {"label": "unsure", "confidence": 0.0}
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return (
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": request.body.get("model"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {"prompt_tokens": 420, "completion_tokens": 12, "total_tokens": 432},
            },
            {},
        )
