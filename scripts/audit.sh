#!/usr/bin/env bash
# Audit the installed virtualenv for known vulnerabilities with pip-audit (advisories from PyPI).
# Findings listed in audit-allowlist.txt (ID, package, reason) are accepted; any other finding fails.
# When the advisory service cannot be reached it says so loudly, package by package, and passes: only a known
# vulnerability that is not allow-listed fails. TRIAGE_AUDIT_STRICT=1 fails an audit that could check nothing
# (for a release machine that does reach the service).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
ALLOWLIST=${TRIAGE_AUDIT_ALLOWLIST:-audit-allowlist.txt}

ignores=()
while read -r id package reason; do
  [[ -z "${id}" || "${id}" == \#* ]] && continue
  if [[ -z "${package}" || -z "${reason}" ]]; then
    echo "audit: ${ALLOWLIST}: '${id}' needs a package and a reason" >&2
    exit 2
  fi
  ignores+=(--ignore-vuln "${id}")
done < "${ALLOWLIST}"

report=$(mktemp)
errors=$(mktemp)
trap 'rm -f "${report}" "${errors}"' EXIT
# --skip-editable: Triage itself is installed editable and is not on PyPI. Its own summary line is dropped:
# "No known vulnerabilities found" is printed even when nothing could be checked; ours below says which.
set +e
"${VENV}/bin/pip-audit" --skip-editable --progress-spinner off --format json --output "${report}" \
  "${ignores[@]+"${ignores[@]}"}" > /dev/null 2> "${errors}"
status=$?
set -e

"${VENV}/bin/python" - "${report}" "${status}" "${#ignores[@]}" "${errors}" <<'PY'
"""Say what pip-audit found, what it could not check, and decide the exit status."""
import json
import os
import sys

path, status, ignored, errors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) // 2, sys.argv[4]
strict = os.environ.get("TRIAGE_AUDIT_STRICT") == "1"


def unreachable(why: str) -> None:
    with open(errors) as fh:
        # pip-audit's own error, if any; never its "No known vulnerabilities found", which would mislead here.
        sys.stderr.write("".join([line for line in fh if "No known vulnerabilities" not in line][-5:]))
    head = "FAILED (TRIAGE_AUDIT_STRICT=1): NOT AUDITED" if strict else "WARNING: NOT AUDITED"
    print(f"audit: {head}: {why}.\n"
          "audit: no vulnerability data was checked, so this is not a clean result. Run `make audit` where PyPI's "
          "JSON API (https://pypi.org/pypi/<name>/<version>/json) answers to check for known vulnerabilities.",
          file=sys.stderr)
    sys.exit(3 if strict else 0)


try:
    with open(path) as fh:
        report = json.load(fh)
except (OSError, ValueError):
    unreachable(f"pip-audit stopped with status {status} before writing a report (see its error above)")
dependencies = report.get("dependencies", [])
unaudited = [d for d in dependencies if d.get("skip_reason")]
audited = [d for d in dependencies if not d.get("skip_reason")]
found = [(d["name"], d["version"], v) for d in audited for v in d.get("vulns", [])]
if dependencies and not audited:
    unreachable(f"the advisory service had data for none of the {len(dependencies)} installed packages "
                f"(first reason: {unaudited[0]['skip_reason']})")
for d in unaudited:
    print(f"audit: warning: {d['name']} {d.get('version', '')} not checked: {d['skip_reason']}", file=sys.stderr)
for name, version, vuln in found:
    fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
    print(f"audit: {vuln['id']} in {name} {version} (fixed in: {fixes}) {' '.join(vuln.get('aliases', []))}")
print(f"audit: {len(audited)} packages checked, {len(unaudited)} not checked, {len(found)} known vulnerabilities "
      f"not in the allow-list, {ignored} allowed")
if found:
    print("audit: upgrade, or add each to audit-allowlist.txt with the reason it does not reach us", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if status in (0, 1) else status)
PY
