"""Migration 0003 keeps existing write-backs, enforces one decision write-back, and downgrades with data."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from service.infra.migrate import downgrade, upgrade

NOW = "2026-11-30 10:00:00"


def test_the_review_tables_arrive_and_leave_without_losing_decision_write_backs(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tickets (id, source, external_id, subject, body, requester, tags, metadata, "
                f"received_at, status, attempts) VALUES (1, 'generic', 'T-1', 's', 'b', '', '[]', '{{}}', "
                f"'{NOW}', 'decided', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO predictions (id, ticket_id, model_name, model_version, label, confidence, "
                f"top_k, latency_ms, role, created_at) VALUES (1, 1, 'b', 'v', 'x', 0.5, '[]', 1, "
                f"'serving', '{NOW}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO decisions (id, ticket_id, prediction_id, queue, priority, status, rule, "
                f"threshold, reason, created_at) VALUES (1, 1, 1, 'q', 'normal', 'auto_routed', 'r', 0.5, "
                f"'{{}}', '{NOW}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO writebacks (id, decision_id, target, status, attempts, created_at, "
                f"updated_at) VALUES (1, 1, 'fake', 'done', 1, '{NOW}', '{NOW}')"
            )
        )
    upgrade(url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT kind FROM writebacks")).scalar_one() == "decision"
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, session_token, created_at) "
                f"VALUES (1, 'ann', 'h', 'agent', 't', '{NOW}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO feedback (id, ticket_id, decision_id, user_id, kind, from_label, to_label, "
                "from_queue, to_queue, from_priority, to_priority, ticket_revision, text_sha256, "
                "created_at) VALUES (1, 1, 1, 1, 'accepted', 'x', 'x', 'q', 'q', 'n', 'n', 1, 'h', "
                f"'{NOW}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO writebacks (decision_id, target, status, attempts, created_at, updated_at, "
                f"kind, feedback_id) VALUES (1, 'fake', 'pending', 0, '{NOW}', '{NOW}', 'review', 1)"
            )
        )
    for kind_values in ("'decision', NULL", "'review', NULL"):
        # A second decision write-back, or a review write-back without its feedback, is refused.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO writebacks (decision_id, target, status, attempts, created_at, "
                    f"updated_at, kind, feedback_id) VALUES (1, 'fake', 'pending', 0, '{NOW}', '{NOW}', "
                    f"{kind_values})"
                )
            )
    downgrade(url, "0002")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT id, status FROM writebacks")).all() == [(1, "done")]
    engine.dispose()
