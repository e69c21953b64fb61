"""The ticket path step by step for flow tests: receive, process, deliver; routing and data variants."""

from __future__ import annotations

import csv
import random
from datetime import timedelta

import yaml

from integrations.fake.webhook import signed_delivery
from service.core import clock as core_clock
from service.decide import flow as decide_flow
from service.infra.models import WritebackRow
from service.writeback import flow as writeback_flow
from tests.support.settings import ROOT, SECRET


def receive(client, ticket_id="T-1", body="I lost my card and I think it was stolen", **fields):
    payload, headers = signed_delivery(SECRET, {"id": ticket_id, "body": body, **fields})
    response = client.post("/webhooks/generic", data=payload, headers=headers)
    assert response.status_code == 202
    return response.get_json()["ticket_id"]


def process(runtime, ticket_id):
    with runtime.db.session() as session:
        ids = decide_flow.process_tickets(runtime, session, [ticket_id])
        return ids[0] if ids else None


def deliver(runtime, writeback_id):
    with runtime.db.session() as session:
        return writeback_flow.deliver_writeback(runtime, session, writeback_id)


def strict_rules(tmp_path, **queue_flags):
    """The demo routing with a threshold no tiny model reaches, so every ticket is 'unsure'."""
    raw = yaml.safe_load((ROOT / "data" / "routing" / "banking77.yaml").read_text())
    raw["default"]["threshold"] = 0.999
    for queue in raw["queues"].values():
        queue.pop("threshold", None)
    for queue, flags in queue_flags.items():
        raw["queues"][queue].update(flags)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def shuffled(path, out, seed=0):
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels = [r["category"] for r in rows]
    random.Random(seed).shuffle(labels)
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category"])
        writer.writerows((r["text"], label) for r, label in zip(rows, labels, strict=True))
    return out


def make_due(runtime, writeback_id):
    with runtime.db.session() as session:
        session.get(WritebackRow, writeback_id).next_attempt_at = core_clock.now_utc() - timedelta(seconds=1)
        session.commit()
