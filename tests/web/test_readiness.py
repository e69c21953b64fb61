"""/readyz answers 503 and names the part that is gone when the database or the broker alone is unreachable."""

import time

import pytest

from service import create_app
from service.core.settings import Secret
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, PG_ADMIN_URL, make_settings

CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


def ready(settings):
    app = create_app(settings.replace(metrics_token=Secret(METRICS_TOKEN)), environ={})
    started = time.monotonic()
    response = app.test_client().get("/readyz", headers=OPS_AUTH)
    took = time.monotonic() - started
    app.extensions["triage"].db.dispose()
    return response, took


def test_a_broker_on_a_closed_port_makes_the_service_not_ready(sqlite_url, models_dir):
    response, took = ready(make_settings(sqlite_url, models_dir, broker_url=f"redis://{CLOSED}/0"))
    assert response.status_code == 503 and response.get_json()["status"] == "not ready"
    checks = response.get_json()["checks"]
    assert checks["database"] == "ok" and checks["broker"].startswith("unavailable")
    assert took < 10  # a load balancer's probe must get an answer, not a hang


def test_a_database_on_a_closed_port_makes_the_service_not_ready(models_dir):
    response, took = ready(make_settings(f"postgresql+psycopg://postgres@{CLOSED}/triage", models_dir))
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"].startswith("unavailable") and checks["broker"] == "ok"
    assert took < 10


@pytest.mark.services
def test_a_database_url_naming_a_database_that_does_not_exist_makes_the_service_not_ready(models_dir):
    admin = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    response, _ = ready(make_settings(f"{admin}/triage_no_such_database", models_dir))
    assert response.status_code == 503 and response.get_json()["checks"]["database"].startswith("unavailable")


def test_a_database_missing_migrations_makes_the_service_not_ready_and_says_what_to_run(tmp_path, models_dir):
    from sqlalchemy import create_engine, text

    from service.infra.migrate import _scripts, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    response, _ = ready(make_settings(url, models_dir))
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "no schema: run `triage db upgrade`"
    upgrade(url, "0005")
    response, _ = ready(make_settings(url, models_dir))
    assert response.status_code == 503
    head = _scripts().get_current_head()
    assert response.get_json()["checks"]["database"].startswith(f"schema at 0005, this release needs {head}")
    upgrade(url)
    response, _ = ready(make_settings(url, models_dir))
    assert response.status_code == 200 and response.get_json()["checks"]["database"] == "ok"
    engine = create_engine(url)
    with engine.begin() as conn:  # a newer release migrated first (a rolling upgrade): this one stays ready
        conn.execute(text("UPDATE alembic_version SET version_num = '0009_from_a_newer_release'"))
    engine.dispose()
    response, _ = ready(make_settings(url, models_dir))
    assert response.status_code == 200
