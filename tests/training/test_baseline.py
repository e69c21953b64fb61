import json
import shutil

import pytest

from service.core.modelcard import CARD_FILE, ModelCard, ModelCardError, current_version_dir, promote
from service.decide.classify import ModelCache, load_model
from tests.support.settings import TINY_LABELS


def test_training_writes_a_promoted_versioned_directory_with_a_card(models_dir):
    directory = current_version_dir(models_dir, "baseline")
    card = ModelCard.read(directory)
    assert card.kind == "sklearn-tfidf-logreg"
    assert sorted(card.labels) == sorted(TINY_LABELS)
    assert len(card.data_sha256) == 64 and card.created_at
    validation = card.metrics["validation"]
    assert validation["n"] >= len(TINY_LABELS)  # held out: the model never saw these rows
    assert validation["accuracy"] > 0.6


def test_the_loaded_model_predicts_known_intents_with_probabilities(models_dir):
    model = load_model(current_version_dir(models_dir, "baseline"))
    lost, rate = model.predict(
        ["I lost my card, someone may have stolen it", "What exchange rate do you use for euros?"], top_k=3
    )
    assert lost.label == "lost_or_stolen_card"
    assert rate.label == "exchange_rate"
    assert len(lost.top_k) == 3 and lost.top_k[0] == (lost.label, lost.confidence)
    assert abs(sum(p for _, p in lost.top_k) - 1) < 0.5 and lost.confidence > lost.top_k[1][1]


@pytest.fixture
def copied(models_dir, tmp_path):
    target = tmp_path / "models"
    shutil.copytree(models_dir, target)
    return current_version_dir(target, "baseline")


def edit_card(directory, **changes):
    path = directory / CARD_FILE
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"format": "something-else/9"}, "format"),
        ({"kind": "pytorch-magic"}, "kind"),
        ({"feature_version": "normalize-v0"}, "retrain"),
        ({"labels": []}, "labels"),
        ({"artefact_sha256": "0" * 64}, "altered"),
    ],
)
def test_a_card_the_service_cannot_use_is_refused(copied, changes, words):
    edit_card(copied, **changes)
    with pytest.raises(ModelCardError, match=words):
        load_model(copied)


def test_a_tampered_artefact_is_refused_before_it_is_unpickled(copied):
    with (copied / "model.joblib").open("ab") as fh:
        fh.write(b"evil")
    with pytest.raises(ModelCardError, match="altered"):
        load_model(copied)


def test_no_model_yet_tells_the_user_to_train(tmp_path):
    with pytest.raises(ModelCardError, match="triage train"):
        ModelCache(tmp_path, "baseline").get()


def test_the_cache_follows_a_promotion_without_restart(copied):
    models = copied.parent.parent
    cache = ModelCache(models, "baseline", check_every_s=0)
    first = cache.get()
    assert cache.get() is first  # loaded once
    clone = copied.parent / "v2"
    shutil.copytree(copied, clone)
    edit_card(clone, version="v2")
    promote(models, "baseline", "v2")
    assert cache.get().version == "v2"


def test_an_unservable_encoder_falls_back_to_the_baseline(copied, tmp_path):
    models = copied.parent.parent
    broken = models / "encoder" / "v1"
    broken.mkdir(parents=True)
    (broken / CARD_FILE).write_text("{not json")
    (models / "encoder" / "CURRENT").write_text("v1\n")
    model = ModelCache(models, "encoder", fallback="baseline").get()
    assert model.name == "baseline"
    with pytest.raises(ModelCardError):
        ModelCache(models, "encoder").get()
