"""The import rules of docs/architecture.md, read from the source: who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.settings import ROOT

STAGES = ("intake", "decide", "escalate", "drafts", "writeback", "review", "retrain", "ops")
SHELLS = ("web", "worker", "cli")


def imports(path: Path) -> list[str]:
    """Every module a file imports, at the top or inside a function, as absolute dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def modules(package: str) -> list[tuple[str, Path]]:
    base = ROOT / package.replace(".", "/")
    return [(".".join(p.relative_to(ROOT).with_suffix("").parts), p) for p in sorted(base.rglob("*.py"))]


def violations(package: str, forbidden: tuple[str, ...], *, allowed: tuple[str, ...] = ()) -> list[str]:
    """'module imports name' for each import of `package` that starts with a forbidden prefix."""
    out = []
    for name, path in modules(package):
        for imported in imports(path):
            if imported.startswith(allowed):
                continue
            if any(imported == f or imported.startswith(f + ".") for f in forbidden):
                out.append(f"{name} imports {imported}")
    return sorted(set(out))


def test_the_service_never_imports_training_or_torch():
    assert violations("service", ("training", "torch", "transformers", "tqdm", "matplotlib")) == []


def test_web_modules_reach_neither_the_orm_models_nor_queries():
    queries = tuple(f"service.{stage}.queries" for stage in (*STAGES, "infra"))
    assert violations("service.web", ("service.infra.models", *queries, "sqlalchemy.orm")) == []


def test_stage_packages_never_import_the_shells():
    for stage in (*STAGES, "core", "infra"):
        assert violations(f"service.{stage}", tuple(f"service.{shell}" for shell in SHELLS)) == [], stage


def test_the_shared_kernel_imports_nothing_of_the_service_but_itself():
    assert (
        violations(
            "service.core", ("service", "integrations", "flask", "celery", "sqlalchemy"), allowed=("service.core",)
        )
        == []
    )


def test_infrastructure_imports_only_the_kernel_and_itself():
    assert violations("service.infra", ("service",), allowed=("service.core", "service.infra")) == []


def test_integrations_import_only_the_kernel_and_never_flows_flask_or_celery():
    assert violations("integrations", ("service", "flask", "celery", "sqlalchemy"), allowed=("service.core",)) == []


def test_no_module_outside_integrations_names_a_vendor_in_code():
    """Comments and docstrings may; names, strings and imports may not (integrations/catalog.py names them)."""
    named = []
    for package in ("service", "training"):
        for name, path in modules(package):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                text = (
                    node.value
                    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    else node.id
                    if isinstance(node, ast.Name)
                    else node.attr
                    if isinstance(node, ast.Attribute)
                    else node.module
                    if isinstance(node, ast.ImportFrom)
                    else ""
                ) or ""
                if "zendesk" in text.lower() or "jira" in text.lower():
                    named.append(f"{name}:{node.lineno}: {text[:60]!r}")
    assert named == []


@pytest.mark.parametrize("entry", ["service.cli", "service.worker.app"])
def test_serving_and_the_worker_import_no_training_tool(tmp_path, entry):
    """`triage serve` and `celery -A service.worker.app worker` load neither torch, tqdm nor matplotlib."""
    script = (
        "import importlib, sys\n"
        f"importlib.import_module({entry!r})\n"
        "from service import create_app\n"
        "create_app()\n"
        "import service.cli.serving\n"
        "loaded = sorted(m for m in ('torch', 'transformers', 'tqdm', 'matplotlib', 'training') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "TRIAGE_MODELS_DIR": str(tmp_path / "models"),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_no_service_module_outgrows_one_screenful_of_concerns():
    """About 400 lines at most: a longer module holds more than one thing, and a newcomer reads it whole."""
    long = [f"{name}: {n}" for name, path in modules("service") if (n := len(path.read_text().splitlines())) > 420]
    assert long == []
