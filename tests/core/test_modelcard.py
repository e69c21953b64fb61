"""Version names are plain names resolved inside their family; the card says who trained the model."""

import json
import os
import shutil

import pytest

from service.core.modelcard import (
    CARD_FILE,
    CURRENT_FILE,
    SHADOW_FILE,
    ModelCard,
    ModelCardError,
    current_version_dir,
    promote,
    set_shadow,
    shadow_version_dir,
    version_dir,
)


@pytest.fixture
def models(models_dir, tmp_path):
    """A copy of the tiny trained models directory, with a second family beside it and a model outside."""
    root = tmp_path / "models"
    shutil.copytree(models_dir, root)
    version = (root / "baseline" / CURRENT_FILE).read_text().strip()
    shutil.copytree(root / "baseline" / version, root / "other" / version)
    shutil.copytree(root / "baseline" / version, tmp_path / "outside")
    return root, version


BAD_NAMES = ["../other", "..", ".", "/tmp/outside", ".hidden", "a/b", "a\\b", "v1\n", "", "x" * 200, "v1;rm"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_promote_and_shadow_refuse_a_version_that_is_not_a_plain_name(models, bad):
    root, _ = models
    with pytest.raises(ModelCardError, match="not allowed"):
        promote(root, "baseline", bad)
    with pytest.raises(ModelCardError, match="not allowed"):
        set_shadow(root, "baseline", bad)


def test_a_family_name_is_checked_too(models):
    root, version = models
    with pytest.raises(ModelCardError, match="not allowed"):
        version_dir(root, "../baseline", version)


@pytest.mark.parametrize("pointer", [CURRENT_FILE, SHADOW_FILE])
@pytest.mark.parametrize("written", ["../other/{v}", "/tmp/anything", "..", "{v}/../../other/{v}"])
def test_a_pointer_file_naming_a_path_out_of_the_family_is_refused(models, pointer, written):
    root, version = models
    (root / "baseline" / pointer).write_text(written.format(v=version) + "\n")
    locate = current_version_dir if pointer == CURRENT_FILE else shadow_version_dir
    with pytest.raises(ModelCardError, match="not allowed"):
        locate(root, "baseline")


def test_a_symlink_that_leads_out_of_the_family_is_refused(models, tmp_path):
    root, _ = models
    os.symlink(tmp_path / "outside", root / "baseline" / "escape")
    with pytest.raises(ModelCardError, match="outside"):
        promote(root, "baseline", "escape")
    (root / "baseline" / CURRENT_FILE).write_text("escape\n")
    with pytest.raises(ModelCardError, match="outside"):
        current_version_dir(root, "baseline")


def test_a_plain_version_inside_the_family_is_promoted_and_found(models):
    root, version = models
    promote(root, "baseline", version)
    assert current_version_dir(root, "baseline") == (root / "baseline" / version).resolve()
    set_shadow(root, "baseline", version)
    assert shadow_version_dir(root, "baseline") == (root / "baseline" / version).resolve()


def test_the_card_records_who_trained_the_model(models, monkeypatch):
    root, version = models
    directory = root / "baseline" / version
    card = ModelCard.read(directory)
    raw = json.loads((directory / CARD_FILE).read_text())
    raw.pop("trained_by", None)
    (directory / CARD_FILE).write_text(json.dumps(raw))
    assert ModelCard.read(directory).trained_by == ""  # cards written before the field still load
    monkeypatch.setenv("TRIAGE_TRAINED_BY", "ci-bot@build-7")
    card.__class__(**{**card.__dict__, "trained_by": ""}).write(directory)
    assert ModelCard.read(directory).trained_by == "ci-bot@build-7"
    monkeypatch.delenv("TRIAGE_TRAINED_BY")
    monkeypatch.setenv("TRIAGE_AUDIT_USER", "ann")
    card.__class__(**{**card.__dict__, "trained_by": ""}).write(directory)
    assert ModelCard.read(directory).trained_by.startswith("ann@")


def test_a_freshly_trained_model_says_who_trained_it(models_dir):
    version = (models_dir / "baseline" / CURRENT_FILE).read_text().strip()
    assert "@" in ModelCard.read(models_dir / "baseline" / version).trained_by


def test_an_altered_artefact_is_refused_before_it_is_unpickled(models):
    root, version = models
    card = ModelCard.read(root / "baseline" / version)
    with (root / "baseline" / version / card.artefact).open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelCardError, match="SHA-256 does not match"):
        ModelCard.read(root / "baseline" / version)


def test_a_card_older_than_its_languages_reads_as_holding_none_back_and_a_bad_list_is_refused(models):
    root, version = models
    directory = root / "baseline" / version
    raw = json.loads((directory / CARD_FILE).read_text())
    assert raw["languages"] == ["en"]
    del raw["languages"]
    (directory / CARD_FILE).write_text(json.dumps(raw))
    assert ModelCard.read(directory).languages is None
    raw["languages"] = "en"
    (directory / CARD_FILE).write_text(json.dumps(raw))
    with pytest.raises(ModelCardError, match="languages must be a list"):
        ModelCard.read(directory)
