"""LLM settings from TRIAGE_LLM_* variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from integrations.settings import IntegrationConfigError, required, secret

# How each kind of server can be told to answer with one of our labels, best first. The client starts
# at the first rung and steps down on the first refusal (docs/escalation.md has the table).
#   json_schema         OpenAI structured outputs: response_format {"type": "json_schema", ...}
#   json_object_schema  llama.cpp and llama-cpp-python: {"type": "json_object", "schema": {...}} (a grammar)
#   guided_json         vLLM's guided decoding: a guided_json body field beside {"type": "json_object"}
#   json_object         JSON mode, no schema: the answer is validated afterwards
#   text                no response_format at all: the prompt asks for JSON, the answer is validated
LADDERS: dict[str, tuple[str, ...]] = {
    "auto": ("json_schema", "json_object_schema", "json_object", "text"),
    "openai": ("json_schema", "json_object", "text"),
    "azure": ("json_schema", "json_object", "text"),
    "vllm": ("json_schema", "guided_json", "json_object", "text"),
    "ollama": ("json_schema", "json_object", "text"),
    "llama.cpp": ("json_schema", "json_object_schema", "json_object", "text"),
    "llama-cpp-python": ("json_object_schema", "json_object", "text"),
}
CONSTRAINED = ("json_schema", "json_object_schema", "guided_json")


@dataclass(frozen=True, repr=False)
class LLMSettings:
    base_url: str
    model: str
    api_key: str
    auth: str = "bearer"  # bearer (OpenAI, vLLM, Ollama, llama.cpp) or api-key (Azure OpenAI)
    api_version: str = ""  # Azure: ?api-version=...
    server: str = "auto"  # a key of LADDERS: which response formats to try, in order
    json_schema: bool = True  # false: skip the constrained rungs (JSON mode, then validation)
    timeout_s: float = 20.0
    deadline_s: float = 45.0  # one classify() call in all: attempts, retries, waits and negotiation
    max_retries: int = 2
    max_wait_s: float = 30.0
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0

    def __repr__(self) -> str:
        return f"LLMSettings(base_url={self.base_url!r}, model={self.model!r}, server={self.server!r}, api_key=***)"

    @property
    def ladder(self) -> tuple[str, ...]:
        """The response formats to try, best first."""
        rungs = LADDERS[self.server]
        return rungs if self.json_schema else tuple(r for r in rungs if r not in CONSTRAINED)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LLMSettings:
        def number(name: str, default: str, kind: type = float) -> float:
            raw = environ.get(name, default)
            try:
                return kind(raw)
            except ValueError:
                raise IntegrationConfigError(f"{name}={raw!r} is not a number") from None

        auth = environ.get("TRIAGE_LLM_AUTH", "bearer")
        if auth not in ("bearer", "api-key"):
            raise IntegrationConfigError(f"TRIAGE_LLM_AUTH must be bearer or api-key, not {auth!r}")
        schema = environ.get("TRIAGE_LLM_JSON_SCHEMA", "true")
        if schema not in ("true", "false"):
            raise IntegrationConfigError("TRIAGE_LLM_JSON_SCHEMA must be true or false")
        server = environ.get("TRIAGE_LLM_SERVER", "auto")
        if server not in LADDERS:
            raise IntegrationConfigError(f"TRIAGE_LLM_SERVER must be one of {', '.join(LADDERS)}, not {server!r}")
        return cls(
            base_url=required(environ, "TRIAGE_LLM_BASE_URL").rstrip("/"),
            model=required(environ, "TRIAGE_LLM_MODEL"),
            api_key=secret(environ, "TRIAGE_LLM_API_KEY", required=False),
            auth=auth,
            api_version=environ.get("TRIAGE_LLM_API_VERSION", ""),
            server=server,
            json_schema=schema == "true",
            timeout_s=number("TRIAGE_LLM_TIMEOUT_S", "20"),
            deadline_s=number("TRIAGE_LLM_DEADLINE_S", "45"),
            max_retries=int(number("TRIAGE_LLM_MAX_RETRIES", "2", int)),
            max_wait_s=number("TRIAGE_LLM_MAX_WAIT_S", "30"),
            price_in_per_1k=number("TRIAGE_LLM_PRICE_IN_PER_1K", "0"),
            price_out_per_1k=number("TRIAGE_LLM_PRICE_OUT_PER_1K", "0"),
            breaker_failures=int(number("TRIAGE_LLM_BREAKER_FAILURES", "5", int)),
            breaker_cooldown_s=number("TRIAGE_LLM_BREAKER_COOLDOWN_S", "60"),
        )
