"""New intents on the review page: the dashboard lists clusters, an admin names one, agents confirm it."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from service.infra.models import Feedback, IntentCluster
from service.review.intents import find_intents
from tests.support.intents import planted
from tests.support.review import csrf_token, days_ago, decided_ticket


@pytest.fixture
def clusters(rt):
    """Planted groups as unsure tickets, clustered; {ticket id: group}."""
    rt.settings = rt.settings.replace(intents_min_cluster_size=5)
    texts, truth = planted(per_group=10, n_noise=20)
    ids = {}
    for i, (text, group) in enumerate(zip(texts, truth, strict=True)):
        ticket_id = decided_ticket(rt, confidence=0.3, subject="", body=text, decided_at=days_ago(i % 10))
        ids[ticket_id] = group
    with rt.db.session() as session:
        find_intents(rt, session)
    return ids


def cluster_of(rt, ids, group):
    with rt.db.session() as session:
        rows = session.scalars(select(IntentCluster)).all()
    return max(rows, key=lambda r: sum(ids[int(i)] == group for i in r.ticket_ids))


def name(client, cluster_id, label, *, token=True):
    data = {"label": label, **({"csrf_token": csrf_token(client, "/review/dashboard")} if token else {})}
    return client.post(f"/review/intents/{cluster_id}/label", data=data)


def test_the_dashboard_lists_each_cluster_with_size_trend_terms_and_linked_examples(agent, rt, clusters):
    page = agent.get("/review/dashboard").get_data(as_text=True)
    mortgage = cluster_of(rt, clusters, "mortgage")
    item = page[page.index(f'id="intent-{mortgage.id}"') :]
    item = item[: item.find('<li id="intent-', 1)]  # up to the next cluster (or the end)
    assert f"{mortgage.size} tickets" in item and "mortgage" in item
    assert 'class="sparkline"' in item and "in the last 7 days" in item
    linked = re.findall(r'href="/review/tickets/(\d+)"', item)[:3]
    assert [int(i) for i in linked] == [int(i) for i in mortgage.ticket_ids[:3]]
    assert "TF-IDF of the ticket text" in item
    # Agents see the clusters but not the form that names one.
    assert "Make it a label" not in page


def test_an_admin_names_a_cluster_and_its_tickets_suggest_the_label_to_agents(admin, agent, rt, clusters):
    pets = cluster_of(rt, clusters, "pet_insurance")
    assert "Make it a label" in admin.get("/review/dashboard").get_data(as_text=True)
    response = name(admin, pets.id, "pet_insurance")
    assert response.status_code == 303 and response.headers["Location"].endswith("/review/dashboard#intents")
    shown = html.unescape(admin.get(response.headers["Location"]).get_data(as_text=True))
    assert "is now the label pet_insurance" in shown and "Named by root; 0 of" in shown
    with rt.db.session() as session:
        row = session.get(IntentCluster, pets.id)
        assert (row.label, row.labelled_by) == ("pet_insurance", "root")

    ticket_id = int(pets.ticket_ids[0])
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="suggested-label"' in page and "Suggested new label <strong>pet_insurance</strong>" in page
    assert '<option value="pet_insurance"' in page  # selectable in the correction form too
    form = page[page.index('id="suggested-label"') :]
    decision = re.search(r'name="decision_id" value="(\d+)"', form).group(1)
    response = agent.post(
        f"/review/tickets/{ticket_id}/review",
        data={
            "csrf_token": csrf_token(agent, f"/review/tickets/{ticket_id}"),
            "decision_id": decision,
            "action": "correct",
            "label": "pet_insurance",
            "stay": "1",
        },
    )
    assert response.status_code == 303
    with rt.db.session() as session:
        [fb] = session.scalars(select(Feedback)).all()
    assert (fb.ticket_id, fb.kind, fb.to_label) == (ticket_id, "corrected", "pet_insurance")
    after = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="suggested-label"' not in after  # confirmed: nothing left to suggest
    assert "1 of" in html.unescape(admin.get("/review/dashboard").get_data(as_text=True))


def test_an_agent_cannot_name_a_cluster(agent, rt, clusters):
    crypto = cluster_of(rt, clusters, "crypto")
    assert name(agent, crypto.id, "crypto").status_code == 403
    with rt.db.session() as session:
        assert session.get(IntentCluster, crypto.id).label is None


def test_naming_without_the_csrf_token_is_refused(admin, rt, clusters):
    crypto = cluster_of(rt, clusters, "crypto")
    assert name(admin, crypto.id, "crypto", token=False).status_code == 400
    with rt.db.session() as session:
        assert session.get(IntentCluster, crypto.id).label is None


def test_a_refused_name_is_explained_and_changes_nothing(admin, rt, clusters):
    crypto = cluster_of(rt, clusters, "crypto")
    response = name(admin, crypto.id, "card_arrival")
    page = html.unescape(admin.get(response.headers["Location"]).get_data(as_text=True))
    assert "'card_arrival' is already a label" in page
    with rt.db.session() as session:
        assert session.get(IntentCluster, crypto.id).label is None


def test_without_clusters_the_dashboard_says_how_to_turn_it_on(agent):
    page = agent.get("/review/dashboard").get_data(as_text=True)
    assert 'id="no-intents"' in page and "TRIAGE_INTENTS_INTERVAL_S" in page
