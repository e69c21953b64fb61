"""`triage intents find|list|name` as an operator runs them, on a database of unsure tickets."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from service import create_app
from service.infra.models import IntentCluster
from tests.support.cli import triage
from tests.support.intents import planted
from tests.support.review import days_ago, decided_ticket
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e


def test_find_lists_and_names_clusters_from_the_command_line(sqlite_url, models_dir):
    app = create_app(make_settings(sqlite_url, models_dir), environ={})
    rt = app.extensions["triage"]
    texts, _ = planted(per_group=10, n_noise=20)
    for i, text in enumerate(texts):
        decided_ticket(rt, confidence=0.3, subject="", body=text, decided_at=days_ago(i % 5))
    env = {
        "TRIAGE_DATABASE_URL": sqlite_url,
        "TRIAGE_MODELS_DIR": str(models_dir),
        "TRIAGE_INTENTS_MIN_CLUSTER_SIZE": "5",
    }

    found = triage("intents", "find", env_extra=env)
    assert found.returncode == 0, found.stderr[-2000:]
    match = re.search(
        r"(\d+) cluster\(s\) holding (\d+) of 50 unsure ticket\(s\) from the last 14 days \((.*)\)", found.stdout
    )
    assert match and int(match.group(1)) >= 3 and match.group(3) == "50 by tfidf", found.stdout

    listed = triage("intents", "list", env_extra=env)
    assert listed.returncode == 0 and f"{match.group(1)} cluster(s)" in listed.stdout
    with rt.db.session() as session:
        mortgage = next(c for c in session.scalars(select(IntentCluster)) if "mortgage" in c.terms)
    assert re.search(rf"^{mortgage.id}\t{mortgage.size} tickets\t.*mortgage.*\tunnamed$", listed.stdout, re.M)

    named = triage("intents", "name", str(mortgage.id), "mortgage", "--by", "ops", env_extra=env)
    assert named.returncode == 0 and "is now the label 'mortgage'" in named.stdout
    again = triage("intents", "name", str(mortgage.id), "loans", env_extra=env)
    assert again.returncode == 1 and "already the label 'mortgage'" in again.stderr
    with rt.db.session() as session:
        row = session.get(IntentCluster, mortgage.id)
        assert (row.label, row.labelled_by) == ("mortgage", "ops")
    rt.db.dispose()
