"""Running the `triage` command as a user does: a subprocess with its own environment."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.settings import ROOT


def triage(*args: str, env_extra: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | env_extra
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
