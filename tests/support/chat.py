"""A local server that speaks the Chat Completions protocol: scripted answers, failures and slowness."""

from __future__ import annotations

import json
import time
from typing import Any

from integrations.fake.server import Recorded, RecordingServer


class ChatServer(RecordingServer):
    """POST /v1/chat/completions answers with the next scripted content (a dict is sent as JSON text)."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.delay_s = 0.0
        super().__init__([("POST", r"/v1/chat/completions", self._complete)])

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
