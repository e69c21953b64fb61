"""Fixtures shared by the training tests."""

import pytest

from training.encoder import default_base_model


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    """A randomly initialised 2-layer DistilBERT with a BERT uncased vocabulary: no token_type_ids."""
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-distilbert")
    vocab = {line.rstrip("\n"): i for i, line in enumerate((default_base_model() / "vocab.txt").open())}
    DistilBertTokenizerFast(vocab=vocab).save_pretrained(directory)
    config = DistilBertConfig(vocab_size=len(vocab), dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                              max_position_embeddings=128)
    DistilBertModel(config).save_pretrained(directory)
    return directory
