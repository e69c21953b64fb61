"""Interfaces the core owns; integrations and model runtimes implement them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from service.domain import Prediction, WritebackRequest


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


@runtime_checkable
class Classifier(Protocol):
    """A loaded model that labels texts."""

    name: str
    version: str
    labels: Sequence[str]

    def predict(self, texts: Sequence[str], *, top_k: int = 3) -> list[Prediction]:
        """Return one prediction per text, in order."""
