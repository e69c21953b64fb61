"""LLM settings from TRIAGE_LLM_* variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from integrations.settings import IntegrationConfigError, required, secret


@dataclass(frozen=True, repr=False)
class LLMSettings:
    base_url: str
    model: str
    api_key: str
    auth: str = "bearer"  # bearer (OpenAI, vLLM, Ollama, llama.cpp) or api-key (Azure OpenAI)
    api_version: str = ""  # Azure: ?api-version=...
    json_schema: bool = True  # response_format json_schema with an enum; false: json_object + validation
    timeout_s: float = 20.0
    max_retries: int = 2
    max_wait_s: float = 30.0
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0

    def __repr__(self) -> str:
        return f"LLMSettings(base_url={self.base_url!r}, model={self.model!r}, api_key=***)"

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
        return cls(
            base_url=required(environ, "TRIAGE_LLM_BASE_URL").rstrip("/"),
            model=required(environ, "TRIAGE_LLM_MODEL"),
            api_key=secret(environ, "TRIAGE_LLM_API_KEY", required=False),
            auth=auth,
            api_version=environ.get("TRIAGE_LLM_API_VERSION", ""),
            json_schema=schema == "true",
            timeout_s=number("TRIAGE_LLM_TIMEOUT_S", "20"),
            max_retries=int(number("TRIAGE_LLM_MAX_RETRIES", "2", int)),
            max_wait_s=number("TRIAGE_LLM_MAX_WAIT_S", "30"),
            price_in_per_1k=number("TRIAGE_LLM_PRICE_IN_PER_1K", "0"),
            price_out_per_1k=number("TRIAGE_LLM_PRICE_OUT_PER_1K", "0"),
            breaker_failures=int(number("TRIAGE_LLM_BREAKER_FAILURES", "5", int)),
            breaker_cooldown_s=number("TRIAGE_LLM_BREAKER_COOLDOWN_S", "60"),
        )
