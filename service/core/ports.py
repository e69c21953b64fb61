"""Interfaces the core owns; integrations and model runtimes implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from service.core.domain import InboundEvent, InboundTicket, LLMAnswer, Prediction, RateLimit, WritebackRequest


class SignatureError(Exception):
    """The request is not signed by someone who holds the secret (or is too old to trust)."""


class IntegrationConfigError(ValueError):
    """An enabled integration's settings or id mappings are incomplete; the message names what is missing."""


class PayloadError(ValueError):
    """The body is well-formed JSON but not a payload this source can send."""


class IntegrationError(Exception):
    """A call to an outside system failed; permanent errors are not retried."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@runtime_checkable
class Helpdesk(Protocol):
    """A ticketing system that receives our decisions."""

    name: str

    def write_back(self, request: WritebackRequest) -> None:
        """Apply the decision to the helpdesk ticket; raise IntegrationError on failure."""

    def post_reply(self, request: WritebackRequest) -> None:
        """Send request.public_reply to the requester as a public comment, with the routing and tags of
        write_back; raise IntegrationError on failure."""

    def fetch_ticket(self, external_id: str) -> InboundTicket:
        """Read a ticket whose webhook carried only its id; raise IntegrationError on failure."""

    def rate_limits(self, request: WritebackRequest) -> Sequence[RateLimit]:
        """The platform's limits that this write-back counts against."""

    def external_id_problem(self, external_id: str) -> str | None:
        """Why this helpdesk cannot hold a ticket with this id (e.g. not a number), or None when it can."""

    def routing_shown(self, ticket: InboundTicket) -> Mapping[str, frozenset[str]]:
        """Which of our queues and priorities ("queue", "priority") the ticket's webhook shows it in: the names the
        helpdesk's value maps to, several when the mapping shares it; a field the webhook does not show is absent."""


@runtime_checkable
class WebhookSource(Protocol):
    """A platform that sends us tickets by webhook."""

    name: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise SignatureError unless the raw body was signed with our secret (and is fresh)."""

    def parse(self, payload: Any, headers: Mapping[str, str]) -> InboundEvent:
        """Turn a verified JSON payload into an event; raise PayloadError if it cannot be one."""

    def signed_digest(self, headers: Mapping[str, str]) -> str:
        """A digest of the verified signature: the same signed request sent again has the same one."""


@runtime_checkable
class Classifier(Protocol):
    """A loaded model that labels texts."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def labels(self) -> Sequence[str]: ...

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int = 3,
        thresholds: Mapping[str, float] | None = None,
        scope_quantile: float | None = None,
    ) -> list[Prediction]:
        """Return one prediction per text, in order, each with its label's threshold (from `thresholds`, else
        the model's own) and, where the model has a scope, its distance and limit (read at `scope_quantile` of
        the training tickets' own distances, else the model's); a model that answers approximately answers
        exactly where a ticket is near a threshold or the limit."""

    def thresholds(self, target: float, groups: Mapping[str, str]) -> Mapping[str, float] | None:
        """Per-label thresholds that keep `target` precision on new tickets (labels grouped by queue), or None
        when the model carries nothing to choose them from."""


@runtime_checkable
class LLM(Protocol):
    """A large language model asked to pick one label for a ticket the small models were unsure about."""

    name: str

    def classify(self, *, text: str, labels: Sequence[str]) -> LLMAnswer:
        """Choose one of `labels` for the (already redacted) text; never raise for a bad answer: say unsure."""
