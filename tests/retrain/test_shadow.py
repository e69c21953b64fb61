"""Shadow mode: a candidate predicts on live tickets beside the model in service, is counted, never acts."""

import shutil

import pytest
from sqlalchemy import select

from service import create_app
from service.core.modelcard import SHADOW_FILE, audit_log, current_version_dir, promote, set_shadow, shadow_version_dir
from service.infra.models import PredictionRow, WritebackRow
from service.review import dashboard as review_dashboard
from tests.support.cli import triage
from tests.support.flows import deliver, process, receive
from tests.support.settings import BANKING77, TINY_LABELS, make_settings, write_subset
from training.baseline import train


@pytest.fixture
def own_models(tmp_path, models_dir):
    """A copy of the session's models directory (so SHADOW stays local) plus a second, untrained-ish version."""
    out = tmp_path / "models"
    shutil.copytree(models_dir, out)
    data = write_subset(tmp_path / "few.csv", BANKING77 / "train.csv", TINY_LABELS, 3)
    candidate = train(data=data, out=out, progress=False, make_current=False)
    return out, candidate.name


@pytest.fixture
def app(sqlite_url, own_models, fake_helpdesk):
    models, _ = own_models
    application = create_app(make_settings(sqlite_url, models), environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url})
    yield application
    application.extensions["triage"].db.dispose()


def test_without_a_shadow_only_the_serving_prediction_is_stored(client, runtime):
    process(runtime, receive(client))
    with runtime.db.session() as session:
        assert session.scalars(select(PredictionRow.role)).all() == ["serving"]


def test_shadow_predictions_are_recorded_and_never_written_back(client, runtime, own_models, fake_helpdesk):
    models, candidate = own_models
    set_shadow(models, "baseline", candidate, reason="trial")
    ticket_ids = [
        receive(client, ticket_id=f"T-{i}", body=body)
        for i, body in enumerate(
            ["I lost my card and I think it was stolen", "What exchange rate do you use for euros?"]
        )
    ]
    writebacks = [process(runtime, t) for t in ticket_ids]
    for writeback_id in writebacks:
        deliver(runtime, writeback_id)
    with runtime.db.session() as session:
        rows = session.scalars(select(PredictionRow).order_by(PredictionRow.id)).all()
        shadow = [r for r in rows if r.role == "shadow"]
        serving = [r for r in rows if r.role == "serving"]
        assert [r.ticket_id for r in shadow] == ticket_ids and [r.model_version for r in shadow] == [candidate] * 2
        assert all(r.model_version == current_version_dir(models, "baseline").name for r in serving)
        assert all(t.decision.prediction.role == "serving" for t in (r.ticket for r in serving))
        assert len(session.scalars(select(WritebackRow)).all()) == 2  # one per ticket, from the serving decision
        stats = review_dashboard.dashboard(runtime, session, days=7)
    # What reaches the helpdesk is the serving model's label and reason; the shadow's version appears nowhere.
    assert sorted(r.body["label"] for r in fake_helpdesk.requests) == sorted(r.label for r in serving)
    assert len(fake_helpdesk.requests) == 2 and all(candidate not in str(r.body) for r in fake_helpdesk.requests)
    assert stats.shadow_model == f"baseline@{candidate}" and stats.shadow.predicted == 2
    assert 0 <= stats.shadow.agreed <= 2 and stats.shadow.reviewed == 0
    assert [e["action"] for e in audit_log(models)][-1] == "shadow"


def test_a_broken_shadow_never_stops_classification(client, runtime, own_models):
    models, candidate = own_models
    set_shadow(models, "baseline", candidate)
    (models / "baseline" / candidate / "model.joblib").write_bytes(b"tampered")
    assert process(runtime, receive(client)) is not None
    with runtime.db.session() as session:
        assert session.scalars(select(PredictionRow.role)).all() == ["serving"]


@pytest.mark.e2e
def test_promoting_the_shadow_ends_it_and_the_cli_switches_it_on_and_off(own_models):
    models, candidate = own_models
    env = {"TRIAGE_MODELS_DIR": str(models)}
    on = triage("models", "shadow", candidate, "--reason", "try", env_extra=env)
    assert on.returncode == 0 and "runs in shadow" in on.stdout
    assert shadow_version_dir(models, "baseline").name == candidate
    assert triage("models", "shadow", "--off", env_extra=env).returncode == 0
    assert shadow_version_dir(models, "baseline") is None
    assert triage("models", "shadow", "19990101T000000-nope", env_extra=env).returncode != 0
    set_shadow(models, "baseline", candidate)
    promote(models, "baseline", candidate)
    assert not (models / "baseline" / SHADOW_FILE).exists()
