"""The drift alarm on /metrics and on the dashboard, over predictions made to order."""

from service.core.modelcard import ModelCard, current_version_dir
from service.retrain import flow as retrain_flow
from tests.support.review import days_ago, decided_ticket
from tests.support.settings import TINY_LABELS


def serving_version(rt):
    return current_version_dir(rt.settings.models_dir, rt.settings.model_name).name


def test_traffic_like_the_training_data_raises_no_alarm(rt, review_app, agent):
    version = serving_version(rt)
    hist = ModelCard.read(rt.settings.models_dir / "baseline" / version).metrics["validation_confidence_hist"]
    # As many live tickets per confidence band as the validation set had, all labels equally often.
    confidences = [int(b) / 10 + 0.05 for b, n in sorted(hist.items()) for _ in range(n)]
    labels = TINY_LABELS * (len(confidences) // len(TINY_LABELS))
    for label, confidence in zip(labels, confidences, strict=True):
        decided_ticket(rt, label=label, confidence=confidence, model_version=version)
    with rt.db.session() as session:
        report = retrain_flow.drift(rt, session)
    assert report is not None and report.window_n == len(labels) >= 30
    assert report.label_psi < 0.05 and report.confidence_psi < 0.05 and not report.drifting
    metrics = review_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'triage_drift_psi{kind="label"}' in metrics and "triage_drift_alarm 0.0" in metrics
    assert 'id="drift-alarm"' not in agent.get("/review/dashboard").get_data(as_text=True)


def test_one_label_flooding_in_sets_the_gauge_and_flags_the_dashboard(rt, review_app, agent):
    version = serving_version(rt)
    for _ in range(40):
        decided_ticket(rt, label="card_arrival", confidence=0.95, model_version=version)
    # Old traffic and other model versions are outside the comparison.
    decided_ticket(rt, label="atm_support", model_version=version, decided_at=days_ago(30))
    decided_ticket(rt, label="atm_support", model_version="an-older-version")
    with rt.db.session() as session:
        report = retrain_flow.drift(rt, session)
    assert report.window_n == 40 and report.label_psi > 1.0 and report.drifting
    metrics = review_app.test_client().get("/metrics").get_data(as_text=True)
    gauge = next(line for line in metrics.splitlines() if line.startswith('triage_drift_psi{kind="label"}'))
    assert abs(float(gauge.split()[-1]) - report.label_psi) < 1e-9
    assert "triage_drift_alarm 1.0" in metrics and "triage_drift_window_predictions 40.0" in metrics
    page = agent.get("/review/dashboard").get_data(as_text=True)
    assert 'id="drift-alarm"' in page and f"label PSI {report.label_psi:.2f}" in page


def test_too_little_traffic_reports_no_psi(rt, review_app):
    decided_ticket(rt, label="card_arrival", model_version=serving_version(rt))
    metrics = review_app.test_client().get("/metrics").get_data(as_text=True)
    assert "triage_drift_psi{" not in metrics and "triage_drift_window_predictions 1.0" in metrics
