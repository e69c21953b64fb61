"""Routing rules as data: label to queue and priority, overrides, and the review threshold."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from service.core.domain import DecisionStatus, Prediction, Route
from service.decide.language import untrained_language
from service.decide.normalize import MAX_INPUT_CHARS
from service.decide.thresholds import DEFAULT_TARGET, NEVER


class RoutingError(ValueError):
    """The routing file is not usable; the message names the file and the offending entry."""


# Keyword overrides read as much of a ticket as the model does.
MAX_ROUTE_CHARS = 2 * MAX_INPUT_CHARS


@dataclass(frozen=True)
class Override:
    name: str
    keywords: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # ISO 639-1 codes of the ticket's detected language (service/decide/language.py); an unknown one never matches.
    languages: tuple[str, ...] = ()
    priority: str | None = None
    queue: str | None = None

    def matches(self, text: str, metadata: Mapping[str, Any], tags: Sequence[str], language: str | None = None) -> bool:
        if self.languages and language not in self.languages:
            return False
        if self.keywords and not any(_has_word(text, k) for k in self.keywords):
            return False
        if any(str(metadata.get(k)) != str(v) for k, v in self.metadata.items()):
            return False
        return not self.tags or bool(set(self.tags) & set(tags))


@dataclass(frozen=True)
class QueueRule:
    name: str
    priority: str
    threshold: float
    auto_route: bool = True  # false: every ticket of this queue waits for a person (e.g. fraud)
    escalate: bool = True  # false: never send this queue's tickets to the external LLM
    llm_may_route: bool = True  # false: an LLM's label never lands a ticket here on its own; a person decides


@dataclass(frozen=True)
class RoutingRules:
    priorities: tuple[str, ...]
    default: QueueRule
    queues: Mapping[str, QueueRule]
    label_queue: Mapping[str, str]
    overrides: tuple[Override, ...]
    # Where a below-threshold guess is moved in the helpdesk while it waits for a person (None: left where it is).
    review_queue: str | None = None
    # The precision promised for auto-routed tickets: each label's threshold is chosen from the model's
    # out-of-fold answers to keep it (service/decide/thresholds.py).
    target_precision: float = DEFAULT_TARGET
    # How much of the training tickets' own spread counts as in scope (the model's own quantile when None):
    # lower keeps more unfamiliar tickets from auto-routing and sends more familiar ones to review.
    scope_quantile: float | None = None

    def groups(self) -> dict[str, str]:
        """Each routed label's queue: rare labels' thresholds are shrunk toward their queue's."""
        return dict(self.label_queue)

    def thresholds(self, labels: Sequence[str], promised: Mapping[str, float]) -> dict[str, float]:
        """The confidence each label's tickets must reach: its promised threshold or its queue's, the stricter."""
        return {label: max(self._rule(label).threshold, promised.get(label, NEVER)) for label in labels}

    def _rule(self, label: str) -> QueueRule:
        queue_name = self.label_queue.get(label)
        return self.queues[queue_name] if queue_name else self.default

    def unmapped(self, labels: Sequence[str]) -> list[str]:
        """Labels a model can produce that no queue claims (they go to the default queue)."""
        return [label for label in labels if label not in self.label_queue]

    def route(
        self,
        prediction: Prediction,
        *,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        language: str | None = None,
        trained_languages: Collection[str] | None = None,
    ) -> tuple[DecisionStatus, Route, str]:
        """Choose queue, priority and status for one prediction, and say why.

        `language` is the ticket's detected language (None: unknown), `trained_languages` those of the model's
        training texts (None: the model's card predates them, and no language is held back)."""
        metadata = metadata or {}
        # Lowered once and cut: keywords are looked for in what the model reads, not in a 256 KiB body each time.
        text = text[:MAX_ROUTE_CHARS].lower()
        queue_name = self.label_queue.get(prediction.label)
        rule = self._rule(prediction.label)
        queue, priority = rule.name, rule.priority
        fired = [
            f"label {prediction.label!r} -> queue {queue!r}"
            if queue_name
            else f"label {prediction.label!r} has no queue -> default {queue!r}"
        ]
        evidence: str | None = None
        for override in self.overrides:
            if not override.matches(text, metadata, tags, language):
                continue
            if override.queue and override.queue != queue:
                queue = override.queue
                fired.append(f"override {override.name!r} -> queue {queue!r}")
            if override.priority and (evidence is None or self._rank(override.priority) > self._rank(evidence)):
                evidence = override.priority
            if override.priority and self._rank(override.priority) > self._rank(priority):
                priority = override.priority
                fired.append(f"override {override.name!r} -> priority {priority!r}")
        threshold = rule.threshold
        final = self.queues.get(queue, rule)
        if not final.auto_route:
            return (
                DecisionStatus.NEEDS_REVIEW,
                Route(queue, priority, "; ".join(fired), threshold, evidence_priority=evidence),
                f"queue {queue!r} is never auto-routed",
            )
        untrained = untrained_language(language, trained_languages)
        if untrained is not None:
            # The model's confidence means nothing in a language it never read: its label is a guess.
            return (
                DecisionStatus.NEEDS_REVIEW,
                Route(queue, priority, "; ".join(fired), threshold, evidence_priority=evidence),
                untrained,
            )
        if prediction.threshold is not None and prediction.threshold > threshold:
            # The model's per-class threshold (chosen for a target precision) is stricter than the queue's.
            threshold = prediction.threshold
            fired.append(f"class threshold {threshold:.2f} for {prediction.label!r}")
        if prediction.out_of_scope:
            status = DecisionStatus.NEEDS_REVIEW
            why = (
                f"out of scope: distance {prediction.scope_distance:.2f} from the nearest training tickets > limit "
                f"{prediction.scope_limit:.2f}; none of the labels may fit, needs review"
            )
        elif prediction.confidence >= threshold and threshold < 1.0:
            status = DecisionStatus.AUTO_ROUTED
            why = f"confidence {prediction.confidence:.2f} >= threshold {threshold:.2f}"
        elif threshold >= 1.0:
            status = DecisionStatus.NEEDS_REVIEW
            why = f"label {prediction.label!r} never reaches the promised precision: needs review"
        else:
            status = DecisionStatus.NEEDS_REVIEW
            why = f"confidence {prediction.confidence:.2f} < threshold {threshold:.2f}: needs review"
        route = Route(queue, priority, "; ".join(fired), threshold, evidence_priority=evidence)
        return status, route, why

    def _rank(self, priority: str) -> int:
        return self.priorities.index(priority)


def _has_word(lowered: str, word: str) -> bool:
    """Whether `word` stands as a whole word in an already lower-cased text."""
    return _word_pattern(word.lower()).search(lowered) is not None


@cache
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


def load_rules(path: Path) -> RoutingRules:
    """Parse and validate a routing file; every error names the file and the entry."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise RoutingError(f"routing file {path} does not exist; set TRIAGE_ROUTING_FILE") from exc
    except yaml.YAMLError as exc:
        raise RoutingError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rules(raw, source=str(path))


def parse_rules(raw: Any, *, source: str = "<rules>") -> RoutingRules:
    def fail(msg: str) -> RoutingError:
        return RoutingError(f"{source}: {msg}")

    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise fail("expected a mapping with 'version: 1'")
    priorities = tuple(raw.get("priorities") or ("low", "normal", "high", "urgent"))

    def priority(value: Any, where: str) -> str:
        if value not in priorities:
            raise fail(f"{where}: priority {value!r} is not one of {list(priorities)}")
        return str(value)

    def threshold(value: Any, where: str) -> float:
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise fail(f"{where}: threshold {value!r} must be a number between 0 and 1")
        return float(value)

    d = raw.get("default") or {}
    default = QueueRule(
        name=str(d.get("queue", "general")),
        priority=priority(d.get("priority", "normal"), "default"),
        threshold=threshold(d.get("threshold", 0.5), "default"),
    )
    queues: dict[str, QueueRule] = {default.name: default}
    label_queue: dict[str, str] = {}
    for name, q in (raw.get("queues") or {}).items():
        where = f"queues.{name}"
        if not isinstance(q, dict):
            raise fail(f"{where}: expected a mapping")
        for flag in ("auto_route", "escalate", "llm_may_route"):
            if flag in q and not isinstance(q[flag], bool):
                raise fail(f"{where}: {flag} must be true or false")
        queues[name] = QueueRule(
            name=name,
            priority=priority(q.get("priority", default.priority), where),
            threshold=threshold(q.get("threshold", default.threshold), where),
            auto_route=q.get("auto_route", True),
            escalate=q.get("escalate", True),
            llm_may_route=q.get("llm_may_route", True),
        )
        for label in q.get("labels") or []:
            label = str(label)
            if label in label_queue:
                raise fail(f"{where}: label {label!r} is already routed to queue {label_queue[label]!r}")
            label_queue[label] = name
    overrides = []
    for i, o in enumerate(raw.get("overrides") or []):
        where = f"overrides[{i}]"
        if not isinstance(o, dict) or "name" not in o:
            raise fail(f"{where}: expected a mapping with a name")
        when, then = o.get("when") or {}, o.get("set") or {}
        unknown = set(when) - {"any_keywords", "metadata", "tags", "language"}
        if unknown or not when:
            raise fail(
                f"{where} ({o['name']}): 'when' needs any_keywords, metadata, tags or language; got {sorted(when)}"
            )
        languages = when.get("language", [])
        languages = [languages] if isinstance(languages, str) else languages
        if not isinstance(languages, list) or not all(
            isinstance(c, str) and re.fullmatch(r"[a-z]{2}", c) for c in languages
        ):
            raise fail(f"{where} ({o['name']}): language takes ISO 639-1 codes such as de or [de, fr]")
        if not then or set(then) - {"priority", "queue"}:
            raise fail(f"{where} ({o['name']}): 'set' takes priority and/or queue")
        if "queue" in then and then["queue"] not in queues:
            raise fail(f"{where} ({o['name']}): queue {then['queue']!r} is not declared under queues")
        overrides.append(
            Override(
                name=str(o["name"]),
                keywords=tuple(str(k) for k in when.get("any_keywords", [])),
                metadata=dict(when.get("metadata", {})),
                tags=tuple(str(t) for t in when.get("tags", [])),
                languages=tuple(languages),
                priority=priority(then["priority"], where) if "priority" in then else None,
                queue=then.get("queue"),
            )
        )
    review_queue = raw.get("review_queue")
    if review_queue is not None and review_queue not in queues:
        raise fail(f"review_queue {review_queue!r} is not declared under queues")

    def share(key: str) -> float | None:
        value = raw.get(key)
        if value is not None and (not isinstance(value, int | float) or not 0.5 <= value < 1.0):
            raise fail(f"{key} {value!r} must be a number from 0.5 up to (not including) 1")
        return None if value is None else float(value)

    target = share("target_precision")
    return RoutingRules(
        target_precision=DEFAULT_TARGET if target is None else target,
        scope_quantile=share("scope_quantile"),
        priorities=priorities,
        default=default,
        queues=queues,
        label_queue=label_queue,
        overrides=tuple(overrides),
        review_queue=review_queue,
    )
