"""Reply drafts: every Banking77 queue and intent renders a complete, guard-clean reply from the shipped file."""

import csv
import json
from pathlib import Path

import pytest

from service.decide.route import load_rules
from service.drafts import guards
from service.drafts.context import DraftContext, context_for, first_name, references
from service.drafts.templates import DraftError, Templates

ROOT = Path(__file__).resolve().parents[2]
DRAFTS = ROOT / "data" / "drafts" / "banking77.yaml"
RULES = load_rules(ROOT / "data" / "routing" / "banking77.yaml")
QUEUES = sorted({*RULES.queues, RULES.default.name})
LABELS = json.loads((ROOT / "data" / "banking77" / "categories.json").read_text())
TEMPLATES = Templates.load(DRAFTS, queues=QUEUES, require_labels=LABELS)
RESPONSE_TIMES = {
    "fraud_security": "within 4 hours",
    "fx_fees": "within 2 business days",
    "account": "within 2 business days",
}


def first_example_per_label() -> dict[str, str]:
    examples: dict[str, str] = {}
    with (ROOT / "data" / "banking77" / "test.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            examples.setdefault(row["category"], row["text"])
    return examples


EXAMPLES = first_example_per_label()


def context(
    label: str, *, queue: str | None = None, name: str | None = "Jane", refs: tuple[str, ...] = ("8F3K2L9Q",)
) -> DraftContext:
    return DraftContext(
        ticket_id="T-1042", first_name=name, queue=queue or RULES.label_queue[label], label=label, references=refs
    )


@pytest.mark.parametrize("label", LABELS)
def test_every_intent_renders_a_complete_reply_that_passes_its_own_guards(label):
    ctx = context(label)
    draft = TEMPLATES.render(ctx, acknowledgement=None)
    assert draft.used_default_acknowledgement
    assert draft.text.startswith("Hi Jane,\n\n")
    for expected in (
        "T-1042",
        "8F3K2L9Q",
        RESPONSE_TIMES.get(ctx.queue, "within 1 business day"),
        draft.parts["acknowledgement"],
        draft.parts["next_steps"],
    ):
        assert expected in draft.text
    assert "{{" not in draft.text and "{%" not in draft.text and "}}" not in draft.text
    assert 2 <= draft.parts["next_steps"].count(". ") + 1 <= 4  # a short paragraph of facts
    result = guards.check(
        draft.parts["acknowledgement"], ticket_text=EXAMPLES[label], template_text=TEMPLATES.facts(ctx)
    )
    assert result.ok, result


@pytest.mark.parametrize("queue", QUEUES)
def test_every_queue_renders_its_team_and_response_time(queue):
    draft = TEMPLATES.render(context("card_arrival", queue=queue, name=None, refs=()), acknowledgement=None)
    assert draft.text.startswith("Hello,\n\n")
    assert RESPONSE_TIMES.get(queue, "within 1 business day") in draft.text
    assert draft.text.endswith(" team") and "ticket T-1042" in draft.text
    assert draft.parts["references"] == ""
    assert "{{" not in draft.text


def test_the_shipped_file_covers_every_queue_and_label_exactly():
    assert sorted(TEMPLATES.queues) == QUEUES
    assert sorted(TEMPLATES.labels) == sorted(LABELS)


def test_a_generated_acknowledgement_replaces_the_default_and_is_never_rendered_as_a_template():
    ctx = context("card_arrival")
    draft = TEMPLATES.render(ctx, acknowledgement="  I can see you've been waiting {{ 7 * 7 }} for your card. ")
    assert not draft.used_default_acknowledgement
    assert draft.parts["acknowledgement"] == "I can see you've been waiting {{ 7 * 7 }} for your card."
    assert TEMPLATES.fallback_acknowledgement("card_arrival") not in draft.text
    assert "49" not in draft.text


@pytest.mark.parametrize("acknowledgement", [None, "", "   \n"])
def test_a_missing_acknowledgement_falls_back_to_the_template_sentence(acknowledgement):
    draft = TEMPLATES.render(context("card_arrival"), acknowledgement=acknowledgement)
    assert draft.used_default_acknowledgement
    assert draft.parts["acknowledgement"] == TEMPLATES.fallback_acknowledgement("card_arrival")


def test_an_unknown_label_uses_the_fallback_intent_and_an_unknown_queue_is_an_error():
    draft = TEMPLATES.render(context("never_seen_label", queue="general"), acknowledgement=None)
    assert draft.parts["acknowledgement"] == "Thank you for getting in touch with us."
    with pytest.raises(DraftError, match="no template for queue 'nowhere'"):
        TEMPLATES.render(context("card_arrival", queue="nowhere"), acknowledgement=None)


def test_facts_hold_everything_but_the_acknowledgement():
    ctx = context("lost_or_stolen_card")
    facts = TEMPLATES.facts(ctx)
    assert "within 4 hours" in facts and "Cards > Freeze" in facts and "T-1042" in facts
    assert TEMPLATES.fallback_acknowledgement("lost_or_stolen_card") not in facts


def test_prompt_facts_state_the_policy_team_and_timing_briefly():
    prompt = TEMPLATES.prompt_facts(context("request_refund"))
    assert "Card Payments" in prompt and "within 1 business day" in prompt and "request refund" in prompt
    assert "Do not promise" in prompt and "{{" not in prompt and "\n" not in prompt
    assert len(prompt) < 1200


def test_html_rendering_escapes_slots_and_the_generated_acknowledgement():
    ctx = DraftContext(
        ticket_id="<T-1>", first_name="<script>", queue="cards", label="card_arrival", references=("A<1234>",)
    )
    html = str(TEMPLATES.render_html(ctx, acknowledgement="Thanks & <b>welcome</b>"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;welcome&lt;/b&gt;" in html and "&amp;" in html and "&lt;T-1&gt;" in html
    assert html.startswith("<p>") and "Kind regards,<br>" in html
    text = TEMPLATES.render(ctx, acknowledgement="Thanks & <b>welcome</b>").text
    assert "<script>" in text  # plain text is not HTML: nothing is escaped there


def test_context_for_fills_name_and_references_from_the_ticket():
    ctx = context_for(
        ticket_id="42",
        requester="jane.doe@example.com",
        subject="Payment ref: AB123456",
        body="My payment didn't go through.\n\nThanks, Maria",
        queue="card_payments",
        label="declined_card_payment",
    )
    assert ctx == DraftContext(
        ticket_id="42",
        first_name="Maria",
        queue="card_payments",
        label="declined_card_payment",
        references=("AB123456",),
    )


@pytest.mark.parametrize(
    "body, requester, expected",
    [
        ("Hi,\nmy name is Olga Petrova and my card is lost", "", "Olga"),
        ("The card never came.\n\nKind regards,\nAnna-Lena Schmidt", "", "Anna-Lena"),
        ("Where is my card?\nThanks, Tomasz", "", "Tomasz"),
        ("Where is my card?\n\nBest,\nJosé", "", "José"),
        ("thank you\n- Sam", "", "Sam"),
        ("It's urgent.\n\nKind regards,\n\nLiam van der Berg", "", "Liam"),
        ("It's urgent.\nThanks!\nAMARA", "", "Amara"),
        ("My name is Priya. Where is my card?", "jane.doe@example.com", "Priya"),  # her own words win
        ("Where is my card?", "Jane Doe <jane.doe@example.com>", "Jane"),
        ("Where is my card?", "jane.doe@example.com", "Jane"),
        ("Where is my card?", "john_smith@example.com", "John"),
        ("Where is my card?", "DOE, JANE", "Jane"),
        ("Hello Marcus,\nthe app crashes", "", None),  # greets our agent, not the customer's name
        ("Thanks for your help", "", None),
        ("Where is my card?\nThanks Bob for the help", "", None),
        ("my name is not showing on the card", "", None),
        ("Regards,\nSupport Team", "", None),
        ("Where is my card?", "jdoe@example.com", None),
        ("Where is my card?", "jane@example.com", None),  # one word: can't tell a name from a mailbox
        ("Where is my card?", "support@example.com", None),
        ("Where is my card?", "info.desk@example.com", None),
        ("Where is my card?", "mike77@example.com", None),
        ("Where is my card?", "Customer 4411", None),
        ("Where is my card?", "", None),
    ],
)
def test_first_name_is_taken_only_when_it_clearly_is_one(body, requester, expected):
    assert first_name(body=body, requester=requester) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("transaction 8F3K2L9Q was declined", ("8F3K2L9Q",)),
        ("Please check ref: AB123456", ("AB123456",)),
        ("order #12345 hasn't shipped", ("12345",)),
        ("order no. 1234 is late", ("1234",)),
        ("Payment reference is RF-2024-0012, and transaction id 99887766", ("RF-2024-0012", "99887766")),
        ("transaction 8F3K2L9Q and again Transaction 8f3k2l9q", ("8F3K2L9Q",)),
        ("transaction 4111111111111111 was wrong", ()),  # a card number (Luhn)
        ("payment 4111 1111 1111 1111 was wrong", ()),  # a grouped card number
        ("payment reference GB82WEST12345698765432", ()),  # an IBAN
        ("transfer to DE89370400440532013000", ()),
        ("reference 07700900123", ()),  # a phone number
        ("payment to +44 20 7946 0958", ()),
        ("payment of 50 euros", ()),
        ("transfer 5000 euros yesterday", ()),  # an amount
        ("payment 2024-03-12 failed", ()),  # a date
        ("the payment 2024 was odd", ()),  # a short bare number
        ("my card 4111 1111 1111 1111 and phone 020 7946 0958", ()),
    ],
)
def test_references_are_ids_from_the_text_never_cards_ibans_or_phones(text, expected):
    assert references(text) == expected


VALID = {
    "version": 1,
    "layout": {
        "greeting": "Hi{% if first_name %} {{ first_name }}{% endif %},",
        "references": "",
        "response": "{{ team }} replies {{ response_time }} on {{ ticket_id }}.",
        "sign_off": "Regards,\n{{ team }}",
        "prompt": "{{ next_steps }}",
    },
    "queues": {"cards": {"team": "Cards", "response_time": "within 1 business day"}},
    "fallback": {"acknowledgement": "Thanks.", "next_steps": "We will look."},
    "intents": {"card_arrival": {"acknowledgement": "Thanks for asking.", "next_steps": "Check the app."}},
}


def variant(path: tuple[str, ...], value: object) -> dict:
    raw = json.loads(json.dumps(VALID))
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


def test_a_minimal_valid_file_loads():
    templates = Templates.parse(VALID, queues=["cards"], require_labels=["card_arrival"])
    draft = templates.render(DraftContext("T-9", None, "cards", "card_arrival", ()), acknowledgement=None)
    assert (
        draft.text == "Hi,\n\nThanks for asking.\n\nCheck the app.\n\nCards replies within 1 business day on T-9."
        "\n\nRegards,\nCards"
    )


@pytest.mark.parametrize(
    "raw, kwargs, message",
    [
        (VALID, {"queues": ["cards", "fraud_security"]}, "no template for queue 'fraud_security'"),
        (VALID, {"queues": ["fraud_security"]}, "unknown queue 'cards'"),
        (VALID, {"require_labels": ["card_arrival", "pin_blocked"]}, "missing intents: pin_blocked"),
        (VALID, {"require_labels": []}, "unknown intent 'card_arrival'"),
        (variant(("intents", "card_arrival", "next_steps"), "Check {{ team "), {}, "TemplateSyntaxError \\(line 1\\)"),
        (variant(("intents", "card_arrival", "next_steps"), "{% if %}x{% endif %}"), {}, "TemplateSyntaxError"),
        (variant(("layout", "response"), "{{ teem }}"), {}, "layout response: UndefinedError.*'teem' is undefined"),
        (
            variant(("intents", "card_arrival", "acknowledgement"), "Thanks {{ first_name }}"),
            {},
            "acknowledgement: UndefinedError",
        ),
        (variant(("intents", "card_arrival", "next_steps"), "{{ ''.__class__.__mro__ }}"), {}, "SecurityError"),
        (variant(("intents", "card_arrival", "next_steps"), ""), {}, "next_steps must be a non-empty string"),
        (variant(("intents", "card_arrival", "next_step"), "x"), {}, "unknown key 'next_step'"),
        (variant(("queues", "cards", "response_time"), None), {}, "queue 'cards': response_time must be"),
        (variant(("layout", "sign_off"), None), {}, "layout: sign_off must be"),
        (variant(("fallback",), None), {}, "fallback must be a mapping"),
        (variant(("version",), 2), {}, "version must be 1"),
        (variant(("queues",), {}), {}, "queues must be a non-empty mapping"),
        ([], {}, "expected a mapping"),
    ],
)
def test_an_unusable_file_is_refused_at_load_with_a_clear_error(raw, kwargs, message):
    with pytest.raises(DraftError, match=message):
        Templates.parse(raw, **kwargs)


def test_a_broken_or_missing_file_names_the_path(tmp_path):
    broken = tmp_path / "drafts.yaml"
    broken.write_text("queues: [unclosed\n")
    with pytest.raises(DraftError, match="drafts.yaml: cannot read"):
        Templates.load(broken)
    with pytest.raises(DraftError, match="missing.yaml: cannot read"):
        Templates.load(tmp_path / "missing.yaml")
