"""The queue view: tabs with counts, filters, sorting and pages, over decisions made to order."""

import re
from datetime import date

import pytest

from service.intake import flow as intake_flow
from service.review import verdicts as review_verdicts
from service.review.filters import ReviewFilter
from service.web.review import filters
from tests.support.review import days_ago, decided_ticket, decision_id


def listed(client, query=""):
    """Ticket ids in the order the queue shows them."""
    page = client.get("/review" + (f"?{query}" if query else "")).get_data(as_text=True)
    return [int(i) for i in re.findall(r'<span class="id">#(\d+)</span>', page)], page


def tab_count(page, name):
    return int(re.search(rf"{name} <span class=\"count\">(\d+)</span>", page).group(1))


def test_tabs_split_tickets_by_status_and_count_each(agent, rt):
    review = decided_ticket(rt, status="needs_review")
    auto = decided_ticket(rt, status="auto_routed", confidence=0.9)
    escalated = decided_ticket(rt, status="escalated", confidence=0.2)
    ids, page = listed(agent)
    assert ids == [review]
    assert (
        tab_count(page, "Needs review"),
        tab_count(page, "Auto-routed"),
        tab_count(page, "Escalated"),
        tab_count(page, "All"),
    ) == (1, 1, 1, 3)
    assert listed(agent, "tab=auto_routed")[0] == [auto]
    assert listed(agent, "tab=escalated")[0] == [escalated]
    assert sorted(listed(agent, "tab=all")[0]) == sorted([review, auto, escalated])


def test_a_reviewed_ticket_moves_to_the_reviewed_tab(agent, rt):
    ticket_id = decided_ticket(rt)
    with rt.db.session() as session:
        review_verdicts.review_ticket(
            rt, session, ticket_id=ticket_id, decision_id=decision_id(rt, ticket_id), user_id=1
        )
    ids, page = listed(agent)
    assert ids == [] and "Nothing needs review" in page
    assert listed(agent, "tab=reviewed")[0] == [ticket_id]


def test_filters_narrow_the_list(agent, rt):
    cards = decided_ticket(
        rt, label="card_arrival", queue="cards", confidence=0.30, model_version="v1", decided_at=days_ago(3)
    )
    fraud = decided_ticket(
        rt,
        label="lost_or_stolen_card",
        queue="fraud_security",
        confidence=0.55,
        model_version="v2",
        decided_at=days_ago(1),
    )
    assert listed(agent, "queue=fraud_security")[0] == [fraud]
    assert listed(agent, "label=card_arrival")[0] == [cards]
    assert listed(agent, "conf_min=50&conf_max=60")[0] == [fraud]
    assert listed(agent, "model=v1")[0] == [cards]
    assert listed(agent, f"since={days_ago(2).date()}")[0] == [fraud]
    assert listed(agent, f"until={days_ago(2).date()}")[0] == [cards]
    ids, page = listed(agent, "queue=transfers")
    assert ids == [] and "No tickets match these filters" in page


def test_sorting_by_confidence_puts_the_least_sure_first(agent, rt):
    mid = decided_ticket(rt, confidence=0.40)
    low = decided_ticket(rt, confidence=0.10)
    high = decided_ticket(rt, confidence=0.44)
    assert listed(agent, "sort=confidence")[0] == [low, mid, high]
    assert listed(agent, "sort=confidence_desc")[0] == [high, mid, low]
    assert listed(agent, "sort=oldest")[0] == [mid, low, high]
    assert listed(agent)[0] == [high, low, mid]


def test_sorting_by_priority_puts_urgent_first(agent, rt):
    low = decided_ticket(rt, priority="low")
    urgent = decided_ticket(rt, priority="urgent")
    normal = decided_ticket(rt, priority="normal")
    assert listed(agent, "sort=priority")[0] == [urgent, normal, low]


def test_pages_hold_per_page_tickets_and_say_where_you_are(agent, rt):
    ids = [decided_ticket(rt) for _ in range(27)]
    first, page = listed(agent)
    assert first == ids[::-1][:25] and "Showing 1–25 of 27" in page and "Page 1 of 2" in page
    second, page = listed(agent, "page=2")
    assert second == ids[::-1][25:] and "Showing 26–27 of 27" in page
    assert len(listed(agent, "per_page=50")[0]) == 27
    none, page = listed(agent, "page=9")
    assert none == [] and "No tickets on page 9" in page and "Go to page 2" in page


def test_bad_filter_values_are_ignored_and_explained(agent, rt):
    ticket_id = decided_ticket(rt)
    ids, page = listed(agent, "conf_min=abc&since=yesterday&sort=random&page=-1&tab=nope")
    assert ids == [ticket_id]
    for words in (
        "conf_min &#39;abc&#39; is not a number",
        "is not a date (YYYY-MM-DD)",
        "sort &#39;random&#39;",
        "tab &#39;nope&#39;",
        "showing page 1",
    ):
        assert words in page


@pytest.mark.parametrize(
    "args, expected",
    [
        ({}, filters.QueueArgs()),
        ({"conf_min": "80", "conf_max": "20"}, filters.QueueArgs()),
        ({"conf_min": "150"}, filters.QueueArgs()),
        ({"since": "2026-12-02", "until": "2026-12-01"}, filters.QueueArgs()),
        ({"per_page": "7"}, filters.QueueArgs()),
        (
            {"tab": "escalated", "conf_min": "5", "per_page": "50", "page": "3"},
            filters.QueueArgs(tab="escalated", conf_min=5, per_page=50, page=3),
        ),
    ],
)
def test_queue_arguments_are_parsed_strictly(args, expected):
    assert filters.parse(args) == expected


def test_queue_arguments_become_filters_and_short_urls():
    args = filters.parse({"queue": "cards", "conf_min": "10", "conf_max": "60", "since": "2026-11-01"})
    assert args.filters == ReviewFilter(
        queue="cards", min_confidence=0.1, max_confidence=0.6, decided_from=date(2026, 11, 1)
    )
    assert args.query() == "queue=cards&conf_min=10&conf_max=60&since=2026-11-01"
    assert args.query(page=2, queue="") == "conf_min=10&conf_max=60&since=2026-11-01&page=2"


def test_the_ticket_page_links_to_its_neighbours_in_the_same_list(agent, rt):
    older = decided_ticket(rt)
    middle = decided_ticket(rt)
    newer = decided_ticket(rt)
    page = agent.get(f"/review/tickets/{middle}?sort=oldest").get_data(as_text=True)
    assert f'href="/review/tickets/{older}?sort=oldest" rel="prev"' in page
    assert f'href="/review/tickets/{newer}?sort=oldest" rel="next"' in page


def test_an_unknown_ticket_is_a_404_page_that_says_what_to_do(agent):
    response = agent.get("/review/tickets/999")
    assert response.status_code == 404 and "Go back to the queue" in response.get_data(as_text=True)


def test_an_undecided_ticket_says_it_is_waiting(agent, review_app):
    from service.core.domain import InboundTicket

    rt = review_app.extensions["triage"]
    with rt.db.session() as session:
        intake = intake_flow.receive_ticket(
            session,
            InboundTicket(source="generic", external_id="W-1", subject="Hi", body="Card?"),
            delivery_id="d",
            body_sha256="x",
            store_new=rt.store_new,
        )
    page = agent.get(f"/review/tickets/{intake.ticket_id}").get_data(as_text=True)
    assert "Not decided yet" in page and "reload the page" in page
