"""Shadow agreement and accuracy on reviewed tickets, over predictions made to order."""

from service.infra.models import PredictionRow
from service.review import stats as review_stats
from service.review import verdicts as review_verdicts
from tests.support.review import days_ago, decided_ticket, decision_id


def shadow(rt, ticket_id, label, version="cand", when=None):
    with rt.db.session() as session:
        session.add(
            PredictionRow(
                ticket_id=ticket_id,
                model_name="baseline",
                model_version=version,
                label=label,
                confidence=0.5,
                top_k=[],
                latency_ms=1.0,
                role="shadow",
                **({"created_at": when} if when else {}),
            )
        )
        session.commit()


def test_agreement_and_reviewed_accuracy_compare_the_shadow_with_the_model_in_service(rt):
    agree = decided_ticket(rt, label="card_arrival")
    differ = decided_ticket(rt, label="card_arrival")
    shadow_right = decided_ticket(rt, label="card_arrival")
    both_wrong = decided_ticket(rt, label="exchange_rate")
    shadow(rt, agree, "card_arrival")
    shadow(rt, differ, "atm_support")
    shadow(rt, shadow_right, "lost_or_stolen_card")
    shadow(rt, both_wrong, "atm_support")
    shadow(rt, agree, "card_arrival", version="another")  # other shadow versions are not counted
    old = decided_ticket(rt, label="card_arrival", decided_at=days_ago(40))
    shadow(rt, old, "atm_support", when=days_ago(40))  # outside the window
    with rt.db.session() as session:
        review_verdicts.review_ticket(
            rt,
            session,
            ticket_id=shadow_right,
            decision_id=decision_id(rt, shadow_right),
            user_id=1,
            label="lost_or_stolen_card",
        )
        review_verdicts.review_ticket(rt, session, ticket_id=agree, decision_id=decision_id(rt, agree), user_id=1)
        review_verdicts.review_ticket(
            rt,
            session,
            ticket_id=both_wrong,
            decision_id=decision_id(rt, both_wrong),
            user_id=1,
            label="pending_transfer",
        )
        outcomes = review_stats.shadow_outcomes(session=session, model_version="cand", since=days_ago(30))
    assert outcomes == review_stats.ShadowOutcomes(predicted=4, agreed=1, reviewed=3, shadow_right=2, serving_right=1)
