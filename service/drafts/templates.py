"""Reply drafts: templates own every fact (next steps, response time, team); only the acknowledgement may vary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from service.drafts.context import DraftContext

LAYOUT_KEYS = ("greeting", "references", "response", "sign_off", "prompt")
_QUEUE_KEYS = {"team", "response_time"}
_INTENT_KEYS = {"acknowledgement", "next_steps"}


class DraftError(ValueError):
    """The drafts file is not usable, or a draft was asked for a queue it does not know."""


@dataclass(frozen=True)
class Draft:
    """A rendered reply, its pieces, and whether the template's own acknowledgement was used."""

    text: str
    parts: dict[str, str]
    used_default_acknowledgement: bool


@dataclass(frozen=True)
class _Queue:
    team: str
    response_time: str


@dataclass(frozen=True)
class _Intent:
    acknowledgement: str
    next_steps: str  # template source


class Templates:
    """Per-queue and per-intent reply templates, validated once at load and rendered in a Jinja2 sandbox."""

    def __init__(
        self,
        *,
        source: str,
        layout: Mapping[str, str],
        queues: Mapping[str, _Queue],
        intents: Mapping[str, _Intent],
        fallback: _Intent,
    ) -> None:
        self.source = source
        self._layout = dict(layout)
        self._queues = dict(queues)
        self._intents = dict(intents)
        self._fallback = fallback
        # Plain-text drafts are not HTML: autoescape off here, on in the separate environment for display.
        self._text_env = _environment(autoescape=False)
        self._html_env = _environment(autoescape=True)
        self._compiled: dict[tuple[bool, str], Template] = {}

    @classmethod
    def load(
        cls, path: str | Path, *, queues: Iterable[str] | None = None, require_labels: Iterable[str] | None = None
    ) -> Templates:
        """Read and validate a drafts file; every problem found is named in one DraftError."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DraftError(f"{path}: cannot read drafts file: {exc}") from exc
        return cls.parse(raw, source=str(path), queues=queues, require_labels=require_labels)

    @classmethod
    def parse(
        cls,
        raw: Any,
        *,
        source: str = "<drafts>",
        queues: Iterable[str] | None = None,
        require_labels: Iterable[str] | None = None,
    ) -> Templates:
        """Validate already-parsed YAML; see load."""
        errors: list[str] = []
        if not isinstance(raw, dict):
            raise DraftError(f"{source}: expected a mapping at the top level")
        if raw.get("version") != 1:
            errors.append(f"version must be 1, got {raw.get('version')!r}")
        unknown_top = set(raw) - {"version", "layout", "queues", "intents", "fallback"}
        errors += [f"unknown top-level key {key!r}" for key in sorted(unknown_top)]

        # An empty references line is a choice (never cite them); every other piece must say something.
        layout = _strings(raw.get("layout"), "layout", set(LAYOUT_KEYS), errors, may_be_empty={"references"})
        queue_map: dict[str, _Queue] = {}
        for name, entry in _mapping(raw.get("queues"), "queues", errors).items():
            fields = _strings(entry, f"queue {name!r}", _QUEUE_KEYS, errors)
            if len(fields) == len(_QUEUE_KEYS):
                queue_map[str(name)] = _Queue(**fields)
        intent_map: dict[str, _Intent] = {}
        for name, entry in _mapping(raw.get("intents"), "intents", errors).items():
            fields = _strings(entry, f"intent {name!r}", _INTENT_KEYS, errors)
            if len(fields) == len(_INTENT_KEYS):
                intent_map[str(name)] = _Intent(**fields)
        fallback_fields = _strings(raw.get("fallback"), "fallback", _INTENT_KEYS, errors)

        if queues is not None:
            known = set(queues)
            errors += [
                f"unknown queue {q!r} (routing knows: {', '.join(sorted(known))})"
                for q in sorted(set(queue_map) - known)
            ]
            errors += [f"no template for queue {q!r}" for q in sorted(known - set(queue_map))]
        if require_labels is not None:
            labels = set(require_labels)
            missing = sorted(labels - set(intent_map))
            if missing:
                errors.append(f"missing intents: {', '.join(missing)}")
            errors += [
                f"unknown intent {name!r} (not a label of the model)" for name in sorted(set(intent_map) - labels)
            ]
        if errors or len(fallback_fields) != len(_INTENT_KEYS):
            raise DraftError(f"{source}: " + "; ".join(errors or ["fallback is incomplete"]))

        templates = cls(
            source=source, layout=layout, queues=queue_map, intents=intent_map, fallback=_Intent(**fallback_fields)
        )
        templates._check_renders()
        return templates

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(self._queues)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._intents)

    def fallback_acknowledgement(self, label: str) -> str:
        """Return the intent's own acknowledgement sentence (the file's fallback for an unknown label)."""
        return _tidy(self._render(self._intent(label).acknowledgement, {}, html=False))

    def render(self, ctx: DraftContext, *, acknowledgement: str | None) -> Draft:
        """Render the full reply; a missing or blank acknowledgement is replaced by the template's own."""
        parts, used_default = self._parts(ctx, acknowledgement, html=False)
        paragraphs = [
            parts["greeting"],
            parts["acknowledgement"],
            " ".join(p for p in (parts["next_steps"], parts["references"]) if p),
            parts["response"],
            parts["sign_off"],
        ]
        return Draft(
            text="\n\n".join(p for p in paragraphs if p), parts=parts, used_default_acknowledgement=used_default
        )

    def render_html(self, ctx: DraftContext, *, acknowledgement: str | None) -> Markup:
        """Render the reply as HTML paragraphs with every slot and the acknowledgement autoescaped."""
        parts, _ = self._parts(ctx, acknowledgement, html=True)
        paragraphs = [
            parts["greeting"],
            parts["acknowledgement"],
            Markup(" ").join(p for p in (parts["next_steps"], parts["references"]) if p),
            parts["response"],
            parts["sign_off"],
        ]
        return Markup("\n").join(
            Markup("<p>{}</p>").format(Markup("<br>\n").join(p.split("\n"))) for p in paragraphs if p
        )

    def facts(self, ctx: DraftContext) -> str:
        """Return everything the template says for this ticket except the acknowledgement, for guards."""
        parts, _ = self._parts(ctx, None, html=False)
        return "\n\n".join(v for k, v in parts.items() if k != "acknowledgement" and v)

    def prompt_facts(self, ctx: DraftContext) -> str:
        """Return the short policy and facts string that tells a model what the reply already says."""
        slots = self._slots(ctx)
        slots["next_steps"] = _tidy(self._render(self._intent(ctx.label).next_steps, slots, html=False))
        return _tidy(self._render(self._layout["prompt"], slots, html=False))

    def _parts(self, ctx: DraftContext, acknowledgement: str | None, *, html: bool) -> tuple[dict[str, Any], bool]:
        slots = self._slots(ctx)
        intent = self._intent(ctx.label)
        generated = " ".join((acknowledgement or "").split())
        # Generated text is data, never a template: rendering it would let a model (or a ticket it echoes)
        # run template code. It is only escaped for HTML.
        ack = (
            (escape(generated) if html else generated)
            if generated
            else self._render(intent.acknowledgement, {}, html=html)
        )
        parts = {
            "greeting": self._render(self._layout["greeting"], slots, html=html),
            "acknowledgement": ack,
            "next_steps": self._render(intent.next_steps, slots, html=html),
            "references": self._render(self._layout["references"], slots, html=html),
            "response": self._render(self._layout["response"], slots, html=html),
            "sign_off": self._render(self._layout["sign_off"], slots, html=html),
        }
        tidy = {key: (Markup(_tidy(str(value))) if html else _tidy(str(value))) for key, value in parts.items()}
        return tidy, not generated

    def _slots(self, ctx: DraftContext) -> dict[str, Any]:
        queue = self._queues.get(ctx.queue)
        if queue is None:
            raise DraftError(f"{self.source}: no template for queue {ctx.queue!r}")
        return {
            "first_name": ctx.first_name,
            "ticket_id": ctx.ticket_id,
            "references": list(ctx.references),
            "team": queue.team,
            "response_time": queue.response_time,
            "queue": ctx.queue,
            "label": ctx.label,
            "topic": ctx.label.replace("_", " ").strip(" ?").lower(),
        }

    def _intent(self, label: str) -> _Intent:
        return self._intents.get(label, self._fallback)

    def _render(self, source: str, slots: Mapping[str, Any], *, html: bool) -> str:
        key = (html, source)
        if key not in self._compiled:
            self._compiled[key] = (self._html_env if html else self._text_env).from_string(source)
        return self._compiled[key].render(slots)

    def _check_renders(self) -> None:
        """Render every template with and without optional slots, so typos fail at load, not on a ticket."""
        errors: list[str] = []
        samples = [
            DraftContext(ticket_id="T-1", first_name="Sam", queue=q, label="", references=("AB123456",))
            for q in self._queues
        ]
        samples += [
            DraftContext(ticket_id="T-2", first_name=None, queue=q, label="", references=())
            for q in list(self._queues)[:1]
        ]
        checks = [(f"layout {k}", v, True) for k, v in self._layout.items()]
        checks += [(f"intent {n!r} next_steps", i.next_steps, True) for n, i in self._intents.items()]
        checks += [(f"intent {n!r} acknowledgement", i.acknowledgement, False) for n, i in self._intents.items()]
        checks += [
            ("fallback next_steps", self._fallback.next_steps, True),
            ("fallback acknowledgement", self._fallback.acknowledgement, False),
        ]
        for where, source, uses_slots in checks:
            try:
                for ctx in samples if uses_slots else samples[:1]:
                    slots = {**self._slots(ctx), "next_steps": "..."} if uses_slots else {}
                    if not _tidy(self._render(source, slots, html=False)) and where != "layout references":
                        errors.append(f"{where} renders empty")
                        break
            except TemplateError as exc:
                lineno = getattr(exc, "lineno", None)
                line = f" (line {lineno})" if lineno else ""
                errors.append(f"{where}: {type(exc).__name__}{line}: {exc.message}")
            except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. {{ references + 1 }}
                errors.append(f"{where}: {type(exc).__name__}: {exc}")
        if errors:
            raise DraftError(f"{self.source}: " + "; ".join(errors))


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    # StrictUndefined: a misspelt slot is an error at load, not a blank in a customer's reply.
    return SandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _tidy(text: str) -> str:
    """Collapse runs of spaces left by folded YAML and template tags; keep line breaks (sign-off)."""
    lines = (" ".join(line.split()) for line in text.strip().split("\n"))
    return "\n".join(line for line in lines if line)


def _mapping(value: Any, where: str, errors: list[str]) -> dict[Any, Any]:
    if not isinstance(value, dict) or not value:
        errors.append(f"{where} must be a non-empty mapping")
        return {}
    return value


def _strings(
    value: Any, where: str, required: set[str], errors: list[str], may_be_empty: frozenset[str] | set[str] = frozenset()
) -> dict[str, str]:
    if not isinstance(value, dict):
        errors.append(f"{where} must be a mapping with {', '.join(sorted(required))}")
        return {}
    errors += [f"{where}: unknown key {k!r}" for k in sorted(set(value) - required)]
    out: dict[str, str] = {}
    for key in sorted(required):
        if not isinstance(value.get(key), str) or not (value[key].strip() or key in may_be_empty):
            errors.append(f"{where}: {key} must be a non-empty string")
        else:
            out[key] = value[key]
    return out
