"""What flows need at run time, built once per process by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from service.config import Settings
from service.db import Database
from service.drafting import ReplyDrafter
from service.generation import GeneratorCache
from service.pipeline.classify import ModelCache, ShadowCache
from service.pipeline.draft import Templates
from service.pipeline.route import RoutingRules, load_rules
from service.ports import LLM
from service.ratelimit import RateLimiter, for_broker
from service.registry import IntegrationRegistry

# Sources whose tickets are written back to the configured TRIAGE_HELPDESK rather than to themselves.
OWN_SOURCES = ("generic", "api")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    environ: Mapping[str, str]

    @cached_property
    def models(self) -> ModelCache:
        return ModelCache(self.settings.models_dir, self.settings.model_name, threads=self.settings.model_threads,
                          fallback="baseline")

    @cached_property
    def shadow(self) -> ShadowCache:
        return ShadowCache(self.settings.models_dir, self.settings.model_name, threads=self.settings.model_threads)

    @cached_property
    def rules(self) -> RoutingRules:
        return load_rules(self.settings.routing_file)

    @cached_property
    def integrations(self) -> IntegrationRegistry:
        return IntegrationRegistry(self.environ, queues=set(self.rules.queues), priorities=self.rules.priorities,
                                   enabled=self.settings.integration_names)

    @cached_property
    def llm(self) -> LLM | None:
        """The external LLM when TRIAGE_LLM_BASE_URL is set; None means unsure tickets go to people."""
        if not self.environ.get("TRIAGE_LLM_BASE_URL"):
            return None
        return self.integrations.get("llm")  # type: ignore[no-any-return]

    @cached_property
    def generator(self) -> GeneratorCache | None:
        if self.settings.drafting_model == "none":
            return None
        return GeneratorCache(self.settings.drafting_model, cache_dir=self.settings.cache_dir,
                              threads=self.settings.model_threads, concurrency=self.settings.drafting_concurrency)

    @cached_property
    def templates(self) -> Templates | None:
        """Reply templates, checked against the routing's queues; None when no templates file is configured."""
        if not self.settings.drafts_file.is_file():
            return None
        return Templates.load(self.settings.drafts_file, queues={*self.rules.queues, self.rules.default.name})

    def drafter(self) -> ReplyDrafter | None:
        """The drafter; the model is loaded on first use (in the worker), never at start."""
        if self.templates is None:
            return None
        cache = self.generator
        generator = cache.get() if cache is not None else None
        return ReplyDrafter(self.templates, generator, timeout_s=self.settings.drafting_timeout_s,
                            slots=cache.slots if cache is not None else None)

    @cached_property
    def limiter(self) -> RateLimiter:
        return for_broker(self.settings.broker_url)

    def helpdesk_for(self, source: str) -> str:
        """Which helpdesk receives the write-back for tickets from `source`."""
        return self.settings.helpdesk if source in OWN_SOURCES else source
