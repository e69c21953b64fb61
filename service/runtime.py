"""What flows need at run time, built once per process by the composition root, and the one way to reach it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask import current_app

from service.core.ports import LLM, IntegrationConfigError
from service.core.settings import ConfigError, Settings
from service.decide.classify import FollowedModel, ModelCache, shadow_model
from service.decide.language import Detector, LanguageError, detector, parse_languages
from service.decide.priority import published_dir
from service.decide.route import RoutingRules, load_rules
from service.drafts.drafter import ReplyDrafter
from service.drafts.local_model import GeneratorCache, missing_drafting_model
from service.drafts.templates import DraftError, Templates
from service.infra.db import Database
from service.infra.ratelimit import RateLimiter, for_broker
from service.infra.registry import IntegrationRegistry

if TYPE_CHECKING:
    from celery import Celery
    from kombu import Connection
    from prometheus_client import CollectorRegistry

    from service.intake.queries import NewTicket

# Sources whose tickets are written back to the configured TRIAGE_HELPDESK rather than to themselves.
OWN_SOURCES = ("generic", "api")
# The write-back target of those tickets when TRIAGE_HELPDESK is unset: decided, never written back, and said so.
NO_HELPDESK = "none"
NOT_WRITTEN_BACK = "not written back: no helpdesk configured (set TRIAGE_HELPDESK to an enabled integration)"
EXTENSION = "triage"

log = logging.getLogger(__name__)


def _unwired(_: object) -> Any:
    raise RuntimeError("the runtime's intake is not wired: build it with create_app()")


@dataclass
class Runtime:
    """Settings, database, models, rules, integrations and the intake's batching, for one process."""

    settings: Settings
    db: Database
    environ: Mapping[str, str]
    # Wired by create_app: the Celery app, the metrics registry, the web process's group commit of new
    # tickets and its batched dispatch of their ids to the workers.
    celery: Celery | None = None
    metrics: CollectorRegistry | None = None
    store_new: Callable[[NewTicket], tuple[int, int] | None] = field(default=_unwired)
    dispatch: Callable[[int], None] = field(default=_unwired)

    def broker_connection(self) -> Connection:
        """A connection to the broker (for readiness checks and queue depth)."""
        if self.celery is None:
            raise RuntimeError("the runtime has no Celery app: build it with create_app()")
        connection: Connection = self.celery.connection_for_write()
        return connection

    def check(self) -> None:
        """Build what a bad setting would break later (integrations, LLM, reply templates), so it stops the start."""
        named = {"helpdesk": [self.settings.helpdesk.strip()], "integrations": self.settings.integration_names}
        fake = [setting for setting, names in named.items() if "fake" in names]
        if fake and not self.settings.allow_fake_helpdesk:
            # The fake keeps write-backs in this process's memory and reports them done: routing would never leave.
            raise ConfigError(
                f"TRIAGE_{fake[0].upper()} names the fake helpdesk, which is for the demo and the tests only "
                "(TRIAGE_ALLOW_FAKE_HELPDESK=true); name your helpdesk integration, or leave "
                "TRIAGE_HELPDESK unset to decide generic and API tickets without writing them back"
            )
        _ = self.languages
        try:
            self.integrations.start()
            if self.environ.get("TRIAGE_LLM_BASE_URL"):
                self.integrations.llm("llm")
            _ = self.templates
            if self.templates is not None and self.drafting_problem:
                # Not a readiness failure: drafts still come from templates, and /readyz stays ready.
                log.warning("drafting model unavailable: %s", self.drafting_problem)
        except (IntegrationConfigError, LookupError, DraftError) as exc:
            raise ConfigError(str(exc)) from None

    @cached_property
    def models(self) -> ModelCache:
        return ModelCache(
            self.settings.models_dir, self.settings.model_name, threads=self.settings.model_threads, fallback="baseline"
        )

    @cached_property
    def shadow(self) -> FollowedModel:
        return shadow_model(self.settings.models_dir, self.settings.model_name, threads=self.settings.model_threads)

    @cached_property
    def priority(self) -> FollowedModel:
        """The priority model in service, followed like the label's; it gets None while none is published."""
        return FollowedModel(
            lambda: published_dir(self.settings.models_dir, self.settings.priority_model),
            threads=self.settings.model_threads,
        )

    @cached_property
    def languages(self) -> tuple[str, ...]:
        """The languages short tickets are told among (TRIAGE_LANGUAGES); empty when detection is off."""
        try:
            return parse_languages(self.settings.languages)
        except LanguageError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def language(self) -> Detector | None:
        """The language detector; its models load on first use (the worker loads them before it forks)."""
        return detector(self.languages) if self.languages else None

    @cached_property
    def rules(self) -> RoutingRules:
        return load_rules(self.settings.routing_file)

    @cached_property
    def integrations(self) -> IntegrationRegistry:
        return IntegrationRegistry(
            self.environ,
            queues=set(self.rules.queues),
            priorities=self.rules.priorities,
            enabled=self.settings.integration_names,
        )

    @cached_property
    def llm(self) -> LLM | None:
        """The external LLM when TRIAGE_LLM_BASE_URL is set; None means unsure tickets go to people."""
        if not self.environ.get("TRIAGE_LLM_BASE_URL"):
            return None
        return self.integrations.llm("llm")

    @cached_property
    def generator(self) -> GeneratorCache | None:
        if self.settings.drafting_model == "none":
            return None
        return GeneratorCache(
            self.settings.drafting_model,
            cache_dir=self.settings.cache_dir,
            threads=self.settings.model_threads,
            concurrency=self.settings.drafting_concurrency,
        )

    @cached_property
    def drafting_problem(self) -> str | None:
        """Why drafts would be template-only with the configured local model (None: it is installed)."""
        return missing_drafting_model(self.settings.drafting_model, self.settings.cache_dir)

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
        return ReplyDrafter(
            self.templates,
            generator,
            timeout_s=self.settings.drafting_timeout_s,
            slots=cache.slots if cache is not None else None,
            # The worker's own detector: another would load its models again in each pool process.
            language_of=self.language.detect if self.language is not None else None,
        )

    @cached_property
    def limiter(self) -> RateLimiter:
        return for_broker(self.settings.broker_url)

    def writeback_id_problem(self, source: str, external_id: str) -> str | None:
        """Why the helpdesk that receives `source`'s write-backs could not hold this ticket id, if it could not."""
        target = self.helpdesk_for(source)
        if target not in self.integrations.enabled and target != "fake":
            return None  # not configured here: the write-back reports it
        return self.integrations.helpdesk(target).external_id_problem(external_id)

    def helpdesk_for(self, source: str) -> str:
        """Which helpdesk receives the write-back for tickets from `source`."""
        return (self.settings.helpdesk or NO_HELPDESK) if source in OWN_SOURCES else source


def runtime() -> Runtime:
    """The runtime of the app handling this request or task (views and tasks reach it only through this)."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Runtime)
    return found
