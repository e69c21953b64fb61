"""Values a person set on a ticket, which later automatic decisions keep."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from service.core.domain import Decision, DecisionStatus

# What a person may set and a later automatic decision must keep.
HELD_FIELDS = ("label", "queue", "priority")


@dataclass(frozen=True)
class Held:
    """A ticket's values set by a person; None where the model and the rules still decide."""

    label: str | None = None
    queue: str | None = None
    priority: str | None = None
    by: dict[str, str] = field(default_factory=dict)  # who set each field: "ann (review page)"

    @classmethod
    def of(cls, held: dict[str, Any] | None) -> Held:
        held = held or {}
        return cls(
            label=held.get("label"), queue=held.get("queue"), priority=held.get("priority"), by=held.get("by") or {}
        )

    def __bool__(self) -> bool:
        return any(getattr(self, f) is not None for f in HELD_FIELDS)

    def kept(self) -> str:
        """The held values and who set each, in words: "label x (ann, review page), queue y (zendesk, helpdesk)"."""
        return ", ".join(
            f"{f} {getattr(self, f)}" + (f" ({self.by[f]})" if f in self.by else "")
            for f in HELD_FIELDS
            if getattr(self, f) is not None
        )

    def describe(self) -> str:
        """One line for a decision's reason."""
        return f"kept as people set it: {self.kept()}"


def keep_held(decision: Decision, held: Held) -> Decision:
    """The decision with a person's values in place of the model's and the rules'.

    A held queue is a person's routing, so the ticket counts as routed (never a guess sent back to review); a held
    priority alone changes nothing else.
    """
    if not held:
        return decision
    route = replace(
        decision.route,
        queue=held.queue or decision.route.queue,
        priority=held.priority or decision.route.priority,
        rule=f"held: {held.describe()}" if held.queue else decision.route.rule,
    )
    status = DecisionStatus.AUTO_ROUTED if held.queue else decision.status
    reason = f"{held.describe()}; the model said: {decision.reason}"
    return replace(
        decision,
        status=status,
        route=route,
        held_label=held.label,
        reason=reason,
        extra={**decision.extra, "held": {f: getattr(held, f) for f in HELD_FIELDS if getattr(held, f)}},
    )
