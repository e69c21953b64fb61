"""Fixtures shared by the training tests; every test here is `slow`, and those that need torch skip without it."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    """A randomly initialised 2-layer DistilBERT with a BERT uncased vocabulary: no token_type_ids."""
    pytest.importorskip("torch", reason="the training extra (torch, transformers) is not installed: make train")
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    from training.onnx_bert import default_base_model

    directory = tmp_path_factory.mktemp("tiny-distilbert")
    vocab = {line.rstrip("\n"): i for i, line in enumerate((default_base_model() / "vocab.txt").open())}
    DistilBertTokenizerFast(vocab=vocab).save_pretrained(directory)
    config = DistilBertConfig(
        vocab_size=len(vocab), dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=128
    )
    DistilBertModel(config).save_pretrained(directory)
    return directory
