"""Reply drafts: templates own the facts; the local model may write only the acknowledgement, and only if
every guard passes. Pure with respect to the database."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from service.decide.language import detect_language
from service.decide.normalize import ticket_text
from service.drafts import guards
from service.drafts.context import context_for
from service.drafts.local_model import LocalGenerator
from service.drafts.templates import Templates

SYSTEM = (
    "You help a bank's support agent answer a customer. Write one or two short, warm sentences that "
    "acknowledge the customer's specific problem in their own words, in the same language as their message. "
    "Do not say what will happen next, do not promise anything, do not mention amounts, dates, times, links, "
    "phone numbers or names, do not apologise for anything the customer did not describe, and do not ask "
    "questions. The rest of the reply, written by the bank, already says: {facts}"
)


@dataclass(frozen=True)
class DraftResult:
    text: str
    source: str
    generated: str | None = None
    guard: str | None = None
    detail: str = ""
    model: str | None = None
    tokens: int = 0
    generation_s: float = 0.0


class ReplyDrafter:
    max_tokens = 70

    def __init__(
        self,
        templates: Templates,
        generator: LocalGenerator | None,
        *,
        timeout_s: float = 20.0,
        slots: threading.BoundedSemaphore | None = None,
        wait_s: float = 5.0,
        language_of: guards.LanguageOf | None = detect_language,
    ) -> None:
        self.templates = templates
        self.generator = generator
        self.timeout_s = timeout_s
        self.slots = slots
        self.wait_s = wait_s
        self.language_of = language_of

    def prompt(self, text: str, *, queue: str, label: str) -> tuple[str, str]:
        ctx = context_for(ticket_id="", requester="", subject="", body=text, queue=queue, label=label)
        return (
            SYSTEM.format(facts=self.templates.prompt_facts(ctx)),
            f'Customer\'s message:\n"""\n{text.strip()[:1500]}\n"""\nWrite only the acknowledgement.',
        )

    def draft(self, *, ticket_id: str, requester: str, subject: str, body: str, queue: str, label: str) -> DraftResult:
        """A full reply; the generated acknowledgement is used only when the model answered in time and passed."""
        ctx = context_for(
            ticket_id=ticket_id, requester=requester, subject=subject, body=body, queue=queue, label=label
        )
        text = ticket_text(subject, body)
        if self.generator is None:
            return DraftResult(
                self.templates.render(ctx, acknowledgement=None).text, "template", detail="no drafting model configured"
            )
        if self.slots is not None and not self.slots.acquire(timeout=self.wait_s):
            return DraftResult(
                self.templates.render(ctx, acknowledgement=None).text,
                "template",
                detail="drafting model busy: template only",
            )
        try:
            system, user = self.prompt(text, queue=queue, label=label)
            out = self.generator.chat(system, user, max_tokens=self.max_tokens, timeout_s=self.timeout_s)
        except Exception as exc:  # a broken model must never cost the ticket its draft
            return DraftResult(
                self.templates.render(ctx, acknowledgement=None).text,
                "template",
                detail=f"generation failed: {type(exc).__name__}",
                model=self.generator.name,
            )
        finally:
            if self.slots is not None:
                self.slots.release()
        generated = clean(out.text)
        template_text = self.templates.facts(ctx)
        if out.stopped_by_time:
            check = guards.GuardResult(ok=False, guard="timeout", detail=f"no answer within {self.timeout_s:.0f} s")
        else:
            check = guards.check(generated, ticket_text=text, template_text=template_text, language_of=self.language_of)
        acknowledgement = generated if check.ok else None
        draft = self.templates.render(ctx, acknowledgement=acknowledgement)
        return DraftResult(
            draft.text,
            f"slm:{self.generator.name}" if check.ok else "template",
            generated=generated,
            guard=check.guard,
            detail=check.detail,
            model=self.generator.name,
            tokens=out.tokens,
            generation_s=out.seconds,
        )


MAX_GENERATED_CHARS = 2000


def clean(text: str) -> str:
    """Strip the wrappers small models add (labels, quotes) and keep at most the first two sentences."""
    # A model writes a few sentences at most: anything longer is cut before a pattern reads it.
    text = text[:MAX_GENERATED_CHARS]
    text = re.sub(r"^\s*(acknowledg(e)?ment|reply|answer)\s*:\s*", "", text.strip(), flags=re.IGNORECASE)
    text = text.strip().strip('"“”').strip()
    # Each piece runs to its punctuation or to the end, so no match is ever retried from inside a long run.
    sentences = [s for s in re.findall(r"[^.!?]+[.!?]*", text) if s[-1] in ".!?"]
    # A cut-off third sentence would fail the length guard for no reason: the first two say enough.
    return " ".join(s.strip() for s in sentences[:2]) if len(sentences) >= 2 else text
