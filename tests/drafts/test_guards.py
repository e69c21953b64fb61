"""Guards on generated draft parts: each one trips on a crafted sentence, and good sentences pass them all."""

import pytest

from service.decide.language import detect_language
from service.drafts.guards import GUARDS, check

TICKET = "Hi, I topped up with my card yesterday but the money still isn't in my account. What's going on?"
TEMPLATE = (
    "Hello,\n\nMost card top-ups reach your balance within minutes, but some are held briefly for security "
    "checks. If it's still pending after 1 business day, reply to this message.\n\nYour request is with "
    "our Top-ups team as ticket T-7, and they will get back to you within 1 business day."
)


@pytest.mark.parametrize(
    "guard, generated",
    [
        ("empty", ""),
        ("empty", "   \n "),
        ("placeholder", "Thanks {{ first_name }}, we understand your top-up is pending."),
        ("placeholder", "Hi [NAME_1], we can see your top-up is still pending."),
        ("placeholder", "<ticket>Your top-up is pending.</ticket>"),
        ("placeholder", "Customer: my top-up is missing. We understand your concern."),
        ("placeholder", "Thanks for your message, [Your Name] here."),
        ("refusal", "I'm sorry, but I can't discuss account matters."),
        ("refusal", "Unfortunately we are unable to look into top-ups."),
        ("refusal", "We cannot help with this request."),
        ("refusal", "Unfortunately, I cannot track your top-up."),
        ("refusal", "We don't have access to card details."),
        ("refusal", "As an AI, I don't know where your money is."),
        ("refusal", "Please contact your bank about the top-up."),
        ("language", "Wir verstehen, dass Ihre Aufladung noch nicht auf Ihrem Konto ist."),
        ("length", "We understand your top-up hasn't arrived. " * 8),
        ("length", "We hear you. Your top-up is pending. That is frustrating."),
        ("email", "You can also write to help@bank.example.com about your top-up."),
        ("url", "You can see the status of your top-up at https://status.example.com/topups."),
        ("url", "Check www.example.org for updates on your top-up."),
        ("phone", "Please call us on +44 20 7946 0958 about your top-up."),
        ("phone", "Our line 0800 123 4567 is open for top-up questions."),
        ("amount", "We can see your top-up of £250 is still pending."),
        ("amount", "Your top-up of 40 EUR is still pending."),
        ("amount", "A 3% fee applies to your top-up."),
        ("date", "Your top-up will reach your account within 3 days."),
        ("date", "Your top-up should arrive by Friday."),
        ("date", "We expect your top-up to complete on 12 March."),
        ("date", "Your top-up will arrive tomorrow."),
        ("promise", "We will refund your top-up today."),
        ("promise", "I have refunded the top-up to your card."),
        ("promise", "Your money is guaranteed to arrive."),
        ("promise", "The top-up will be refunded to your card."),
        ("promise", "We'll sort this out immediately."),
        ("apology_for_event", "We're so sorry for your loss, and we understand your top-up is pending."),
        ("apology_for_event", "Our condolences; we understand your top-up is pending."),
        ("apology_for_event", "We're sorry to hear about your accident and your pending top-up."),
        ("apology_for_event", "We know this is a difficult time, and your top-up is still pending."),
        ("offtopic_names", "My colleague Sarah is looking at your top-up."),
        ("offtopic_names", "Thank you for your patience while Marcus checks your top-up."),
    ],
)
def test_each_guard_trips_on_a_crafted_sentence(guard, generated):
    result = check(generated, ticket_text=TICKET, template_text=TEMPLATE)
    assert not result.ok
    assert result.guard == guard, result.detail
    assert result.detail


@pytest.mark.parametrize(
    "generated",
    [
        "Thank you for letting us know that your card top-up from yesterday hasn't reached your account yet.",
        "We understand how worrying it is when money you've added doesn't show up, and we're here to help.",
        "I understand you're unable to see the top-up in your balance yet.",
        "Thanks for getting in touch about your missing top-up.",
        "We're sorry your top-up hasn't arrived; we know you want this sorted.",
        "Thank you for reaching out about the top-up with your card.",
    ],
)
def test_a_good_acknowledgement_passes_every_guard(generated):
    result = check(generated, ticket_text=TICKET, template_text=TEMPLATE)
    assert result.ok, result
    assert result.guard is None


@pytest.mark.parametrize(
    "generated, ticket, template",
    [
        ("We can see the £250 top-up you mention.", "My £250 top-up is missing", TEMPLATE),
        ("We can see the 250.00 GBP top-up you mention.", "My £250 top-up is missing", TEMPLATE),
        ("We understand the top-up you made on Monday is missing.", "I topped up on Monday", TEMPLATE),
        ("We understand it has been 3 days since your top-up.", "It's been three days since my top-up", TEMPLATE),
        ("Our team will reply within 1 business day.", TICKET, TEMPLATE),
        (
            "We're sorry to hear about your accident, and about the top-up.",
            "I had an accident and lost my card",
            TEMPLATE,
        ),
        ("Thanks, Priya, for telling us about your top-up.", "Top-up missing. Thanks, Priya", TEMPLATE),
        ("We'll check the number +44 20 7946 0958 you gave us.", "call me on +44 20 7946 0958", TEMPLATE),
        ("Please freeze your card immediately.", TICKET, "Please freeze your card immediately under Cards."),
    ],
)
def test_facts_already_in_the_ticket_or_template_are_allowed(generated, ticket, template):
    result = check(generated, ticket_text=ticket, template_text=template)
    assert result.ok, result


def test_a_promise_the_customer_asked_for_is_still_a_promise():
    result = check(
        "We will refund you in full.", ticket_text="I want you to refund me in full now", template_text=TEMPLATE
    )
    assert result.guard == "promise"


def test_the_character_limit_is_configurable():
    sentence = "Thank you for letting us know that your top-up has not arrived."
    assert check(sentence, ticket_text=TICKET, template_text=TEMPLATE).ok
    result = check(sentence, ticket_text=TICKET, template_text=TEMPLATE, max_chars=40)
    assert result.guard == "length" and "40" in result.detail


def test_guards_run_in_the_documented_order():
    assert [name for name, _ in GUARDS] == [
        "empty",
        "placeholder",
        "refusal",
        "language",
        "length",
        "email",
        "url",
        "phone",
        "amount",
        "date",
        "promise",
        "apology_for_event",
        "third_person",
        "repeats_template",
        "offtopic_names",
    ]


def test_the_first_guard_in_order_is_the_one_reported():
    generated = "As an AI I will refund £500 immediately, call +44 20 7946 0958."
    assert check(generated, ticket_text=TICKET, template_text=TEMPLATE).guard == "refusal"


@pytest.mark.parametrize(
    "text, language",
    [
        ("I lost my card yesterday and I need a new one, what should I do?", "en"),
        ("Ich habe meine Karte verloren und brauche bitte eine neue.", "de"),
        ("J'ai perdu ma carte et je voudrais savoir comment en commander une nouvelle.", "fr"),
        ("He perdido mi tarjeta y necesito una nueva, ¿qué tengo que hacer?", "es"),
        ("Ho perso la mia carta e vorrei sapere come ordinarne una nuova.", "it"),
        ("Eu perdi o meu cartão e preciso de um novo, o que devo fazer?", "pt"),
        ("Ik ben mijn kaart kwijt en ik wil graag een nieuwe aanvragen.", "nl"),
        ("Wir verstehen, dass Ihre Aufladung noch nicht angekommen ist.", "de"),
        ("Nous comprenons que votre virement est toujours en attente.", "fr"),
        ("card arrival?", None),  # too little to tell
        ("", None),
        ("PIN 1234", None),
    ],
)
def test_the_language_of_tickets_and_replies_is_detected(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "generated, ticket",
    [
        ("Gracias por escribirnos sobre tu tarjeta perdida.", "Ich habe meine Karte verloren und brauche eine neue."),
        ("Thank you for telling us about your lost card.", "He perdido mi tarjeta y necesito una nueva."),
    ],
)
def test_a_reply_in_another_language_than_the_ticket_is_refused(generated, ticket):
    assert check(generated, ticket_text=ticket, template_text="").guard == "language"


def test_a_ticket_too_short_to_tell_does_not_block_an_english_reply():
    assert check("Thanks for asking about your card.", ticket_text="card?", template_text="").ok


@pytest.mark.parametrize(
    "generated, guard",
    [
        ("The customer's message is not yet pending, but the cash is still pending.", "third_person"),
        ("We understand the user is worried about this payment.", "third_person"),
        ("You can set up automatic top-ups in the app under Home.", "repeats_template"),
    ],
)
def test_narration_and_copied_template_facts_are_refused(generated, guard):
    template = "You can set up automatic top-ups in the app under Home > Add money > Auto top-up."
    result = check(generated, ticket_text="Can I add money automatically?", template_text=template)
    assert result.guard == guard


def test_an_acknowledgement_in_its_own_words_passes_the_new_guards():
    template = "You can set up automatic top-ups in the app under Home > Add money > Auto top-up."
    result = check(
        "Topping up by hand every time is tiresome, so automatic top-ups make sense for you.",
        ticket_text="Can I add money automatically?",
        template_text=template,
    )
    assert result.ok, result


@pytest.mark.parametrize(
    "generated, guard",
    [
        ("I'm sorry for the confusion, I'm here to help you with your card.", "apology_for_event"),
        ("I'm here to help you with your banking. I'm not a bank chatbot.", "refusal"),
    ],
)
def test_small_model_filler_is_refused(generated, guard):
    result = check(generated, ticket_text="Why isn't my card working?", template_text="We will check your card.")
    assert result.guard == guard


def test_sorry_for_the_confusion_is_fine_when_the_customer_was_confused():
    result = check(
        "Sorry for the confusion about the fee on your statement.",
        ticket_text="I am confused by the fee on my statement",
        template_text="Fees are listed in the app.",
    )
    assert result.ok, result


def test_with_detection_off_the_language_guard_lets_any_language_through():
    german = "Wir verstehen, dass Ihre Aufladung noch nicht auf Ihrem Konto ist."
    assert check(german, ticket_text=TICKET, template_text="").guard == "language"
    assert check(german, ticket_text=TICKET, template_text="", language_of=None).guard != "language"
