"""Use cases of retraining: drift of the model in service, scheduled retraining behind the gate."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.modelcard import ModelCardError, card_metrics, current_version_dir
from service.decide.priority import published_dir
from service.retrain.drift import DriftReport, drift_report
from service.retrain.queries import bot_labelled_ids, live_predictions
from service.review.feedback import feedback_examples
from service.runtime import Runtime

log = logging.getLogger(__name__)


def drift(runtime: Runtime, session: Session, *, now: datetime | None = None) -> DriftReport | None:
    """How far the model in service's recent predictions moved from its training data; None without a model."""
    settings = runtime.settings
    try:
        directory = current_version_dir(settings.models_dir, settings.model_name)
        metrics = card_metrics(directory)
    except ModelCardError:
        return None
    since = (now or now_utc()) - timedelta(days=settings.drift_window_days)
    labels, confidences = live_predictions(
        session=session, model_name=settings.model_name, model_version=directory.name, since=since
    )
    return drift_report(
        metrics,
        model_name=settings.model_name,
        model_version=directory.name,
        labels=labels,
        confidences=confidences,
        threshold=settings.drift_psi_threshold,
        min_n=settings.drift_min_predictions,
    )


def retrain(runtime: Runtime, session: Session) -> dict[str, object]:
    """Scheduled retraining: review feedback (+ TRIAGE_RETRAIN_DATA) -> candidate -> gate -> promote if it passes;
    then the same for the priority model in service, when TRIAGE_RETRAIN_PRIORITY_HOLDOUT names its gate's set."""
    from service.retrain.schedule import retrain as run

    settings = runtime.settings
    # Feedback is a person's by construction; the labelled file may hold labels our own write-back set.
    examples, _ = feedback_examples(session)
    bot_only = bot_labelled_ids(session=session)
    session.rollback()  # release the read transaction: training takes minutes
    data = Path(settings.retrain_data) if settings.retrain_data else None
    result: dict[str, object] = run(
        models_dir=settings.models_dir,
        name=settings.model_name,
        examples=[(e.text, e.label) for e in examples],
        data=data,
        holdout=Path(settings.retrain_holdout),
        exclude=bot_only,
    )
    if settings.retrain_priority_holdout and published_dir(settings.models_dir, settings.priority_model):
        result["priority"] = run(
            models_dir=settings.models_dir,
            name=settings.priority_model,
            # Only verdicts that settled a priority teach it; the rest said nothing about urgency.
            examples=[(e.text, e.priority) for e in examples if e.priority],
            data=data,
            holdout=Path(settings.retrain_priority_holdout),
            exclude=bot_only,
            target="priority",
        )
    return result
