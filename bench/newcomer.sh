#!/usr/bin/env bash
# A newcomer's first `make demo`: a fresh clone, an empty pip cache, the README's command, timed.
# Prints JSON: seconds until the install finished, until the demo's summary appeared, and the summary lines.
# Usage: bench/newcomer.sh [REPO (default: this checkout)] [WORKDIR (default: a new temp dir)]
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
work=${2:-$(mktemp -d)}
export PIP_CACHE_DIR
PIP_CACHE_DIR=$(mktemp -d)
git clone --quiet "${repo}" "${work}/triage"
cd "${work}/triage"
log=${work}/make-demo.log
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
# The demo keeps serving after its summary; --no-serve ends it there, as a newcomer's Ctrl-C would.
make demo DEMO_ARGS="--no-serve --port ${port}" > "${log}" 2>&1 &
pid=$!
installed=""
while kill -0 "${pid}" 2> /dev/null; do
  if [[ -z "${installed}" && -f .venv/.installed ]]; then
    installed=$(echo "$(date +%s.%N) - ${start}" | bc)
  fi
  sleep 0.5
done
wait "${pid}"
finished=$(echo "$(date +%s.%N) - ${start}" | bc)
python3 - "${log}" "${installed}" "${finished}" "$(du -sm .venv | cut -f1)" <<'PY'
import json
import sys

log, installed, finished, venv_mb = sys.argv[1:]
lines = open(log, encoding="utf-8", errors="replace").read().splitlines()
start = next(i for i, line in enumerate(lines) if line.startswith("Triage demo:"))
summary = [line.strip() for line in lines[start : start + 9]]
print(json.dumps({
    "install_s": round(float(installed), 1),
    "make_demo_to_summary_s": round(float(finished), 1),
    "venv_mb": int(venv_mb),
    "terminal_lines": len(lines),
    "summary": summary,
}, indent=2))
PY
