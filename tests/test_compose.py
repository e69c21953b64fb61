"""docker-compose.yml cannot run here (no Docker engine): check it parses and every command exists."""

import importlib.util
from pathlib import Path

import yaml

from service.cli import main

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_declares_the_production_services():
    assert {"web", "ops", "worker", "beat", "redis", "postgres", "migrate", "train"} <= set(COMPOSE["services"])


def test_only_the_web_app_is_published_and_its_ops_endpoints_need_the_token():
    services = COMPOSE["services"]
    published = {name for name, service in services.items() if service.get("ports") and not service.get("profiles")}
    assert published == {"web"}
    assert services["ops"]["command"][-1] == "service.asgi_ops:app" and "ports" not in services["ops"]
    assert services["web"]["environment"]["TRIAGE_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    probe = " ".join(services["web"]["healthcheck"]["test"])
    assert "/readyz" in probe and "Authorization" in probe and "/run/secrets/metrics_token" in probe


def test_the_ops_app_weighs_least_on_shared_cores_so_a_flood_of_it_cannot_starve_intake():
    services = COMPOSE["services"]
    web = services["web"].get("cpu_shares", 1024)  # Docker's default weight
    assert services["ops"]["cpu_shares"] < services["worker"]["cpu_shares"] < web


def test_the_models_volume_is_read_only_everywhere_but_the_training_job():
    mounts = {
        name: [v for v in service.get("volumes", []) if v.split(":")[0] == "models"]
        for name, service in COMPOSE["services"].items()
    }
    writers = {name for name, found in mounts.items() if any(not v.endswith(":ro") for v in found)}
    assert writers == {"train"}
    assert all(v.endswith(":ro") for name, found in mounts.items() if name != "train" for v in found)
    assert mounts["web"] and mounts["worker"] and mounts["beat"]
    assert COMPOSE["services"]["train"]["command"][:2] == ["triage", "train"]


def test_compose_points_triage_at_postgres_and_redis_with_secrets_from_files():
    env = COMPOSE["services"]["web"]["environment"]
    assert env["TRIAGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["TRIAGE_BROKER_URL"].startswith("redis://")
    assert all(k.endswith("_FILE") for k in env if "SECRET" in k or "TOKEN" in k)


def module_exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


def test_every_compose_command_names_something_that_exists():
    services = COMPOSE["services"]
    web = services["web"]["command"]
    assert web[0] == "granian" and module_exists(web[-1])
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:2] == ["celery", "-A"] and module_exists(command[2])
        assert command[3] == name
    migrate = services["migrate"]["command"]
    assert migrate[0] == "triage"
    group = main.commands[migrate[1]]
    assert migrate[2] in group.commands


def test_the_worker_entry_point_exposes_the_celery_app_with_our_tasks(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path}/w.db")
    import service.worker.app as worker

    assert {"triage.process_tickets", "triage.deliver_writeback", "triage.sweep"} <= set(worker.celery.tasks)
    assert worker.celery.conf.task_acks_late is True
    assert "sweep-stragglers" in worker.celery.conf.beat_schedule


def test_the_dockerfile_builds_the_files_compose_runs():
    copies = [line.split()[1:-1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    copied = {path for line in copies for path in line}
    assert {"service", "integrations", "migrations", "alembic.ini", "data", "pyproject.toml"} <= copied
    assert all((ROOT / path).exists() for path in copied)


def test_the_readme_documents_every_setting_and_both_commands():
    from service.core.settings import describe

    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name, _, _ in describe())
    assert "make demo" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
