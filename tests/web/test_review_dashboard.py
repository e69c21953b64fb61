"""The dashboard's numbers, over decisions made to order, on SQLite and on Postgres."""

import re

import pytest

from service import create_app
from service.core.settings import Secret
from service.review import dashboard as review_dashboard
from service.review import queries as review_queries
from service.review import users as review_users
from service.review import verdicts as review_verdicts
from tests.support.review import PASSWORD, days_ago, decided_ticket, decision_id, sign_in
from tests.support.settings import make_settings


def populate(rt):
    """Ten tickets: 6 auto-routed, 3 needing review, 1 escalated; 4 reviewed (3 labels kept, 1 relabelled)."""
    auto = [decided_ticket(rt, status="auto_routed", confidence=0.95, queue="cards") for _ in range(5)]
    auto.append(
        decided_ticket(
            rt,
            status="auto_routed",
            confidence=0.75,
            queue="transfers",
            label="pending_transfer",
            decided_at=days_ago(2),
        )
    )
    review = [decided_ticket(rt, status="needs_review", confidence=c) for c in (0.31, 0.35, 0.42)]
    escalated = decided_ticket(rt, status="escalated", confidence=0.12, model_version="v2")
    decided_ticket(rt, status="auto_routed", decided_at=days_ago(45))  # outside the 30-day window
    with rt.db.session() as session:
        for ticket_id, label in ((auto[0], None), (auto[1], None), (review[0], None), (review[1], "exchange_rate")):
            review_verdicts.review_ticket(
                rt, session, ticket_id=ticket_id, decision_id=decision_id(rt, ticket_id), user_id=1, label=label
            )
        # A second look at the same decision counts once, by its latest verdict.
        review_verdicts.review_ticket(
            rt, session, ticket_id=review[0], decision_id=decision_id(rt, review[0]), user_id=1, priority="high"
        )
    return auto, review, escalated


def check_numbers(rt):
    populate(rt)
    with rt.db.session() as session:
        stats = review_dashboard.dashboard(rt, session, days=30)
        assert (stats.decided, stats.by_status) == (10, {"auto_routed": 6, "needs_review": 3, "escalated": 1})
        assert stats.share("auto_routed") == 0.6 and stats.share("escalated") == 0.1
        # Only the priority change breaks the routing; a new label in the same queue keeps it.
        assert (stats.reviewed, stats.label_kept, stats.routing_kept) == (4, 3, 3)
        assert stats.label_accuracy == 0.75 and stats.routing_accuracy == 0.75
        assert stats.llm_cost_per_1000 is None
        assert sum(n for _, _, n in stats.volume) == 10 and {q for _, q, _ in stats.volume} == {"cards", "transfers"}
        assert len({d for d, _, _ in stats.volume}) == 2
        histogram = {(b, s): n for b, s, n in stats.histogram}
        assert histogram == {
            (9, "auto_routed"): 5,
            (7, "auto_routed"): 1,
            (3, "needs_review"): 2,
            (4, "needs_review"): 1,
            (1, "escalated"): 1,
        }
        assert stats.models_used == [("baseline", "v1", 9), ("baseline", "v2", 1)]
        assert review_queries.review_tab_counts(session=session, filters=review_queries.ReviewFilter()) == {
            "needs_review": 1,
            "escalated": 1,
            "auto_routed": 5,
            "reviewed": 4,
            "all": 11,
        }
        assert review_dashboard.dashboard(rt, session, days=90).decided == 11


def test_dashboard_numbers_on_sqlite(rt):
    check_numbers(rt)


@pytest.mark.services
def test_dashboard_and_queue_queries_on_postgres(postgres_url, models_dir):
    from sqlalchemy import text

    app = create_app(make_settings(postgres_url, models_dir, secret_key=Secret("k" * 32)), environ={})
    rt = app.extensions["triage"]
    with rt.db.engine.begin() as conn:
        conn.execute(text("TRUNCATE tickets, users RESTART IDENTITY CASCADE"))
    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    try:
        check_numbers(rt)
        with rt.db.session() as session:
            rows, total = review_queries.review_page(
                session=session,
                tab="all",
                filters=review_queries.ReviewFilter(
                    min_confidence=0.3, max_confidence=0.5, decided_from=days_ago(1).date()
                ),
                sort="priority",
                priorities=rt.rules.priorities,
                offset=0,
                limit=10,
            )
            assert total == 3 and [p.confidence for _, _, p in rows] == [0.42, 0.35, 0.31]
    finally:
        with rt.db.engine.begin() as conn:
            conn.execute(text("TRUNCATE tickets, users RESTART IDENTITY CASCADE"))
        rt.db.dispose()


def test_the_dashboard_page_shows_numbers_charts_and_the_model(agent, rt, models_dir):
    populate(rt)
    page = agent.get("/review/dashboard").get_data(as_text=True)
    kpis = dict(re.findall(r'<span class="kpi-value">([^<]+)</span><span class="kpi-name">([^<]+)</span>', page))
    assert {v: k for k, v in kpis.items()} == {
        "tickets decided": "10",
        "auto-routed": "60.0 %",
        "accuracy on reviewed tickets": "75.0 %",
        "escalation rate": "10.0 %",
        "LLM cost per 1,000 tickets": "—",
        "failed helpdesk updates": "0",
    }
    assert "—, no LLM configured" in page
    assert page.count('<svg class="chart"') == 2 and "<title" in page
    current = (models_dir / "baseline" / "CURRENT").read_text().strip()
    assert f"baseline@{current}" in page


def test_an_empty_dashboard_says_how_to_fill_it(review_app):
    client = review_app.test_client()
    sign_in(client, "ann")
    page = client.get("/review/dashboard?days=7").get_data(as_text=True)
    assert "No decisions in the last 7 days" in page and "triage demo" in page
    assert "no reviews yet" in page
    assert client.get("/review/dashboard?days=abc").status_code == 200
