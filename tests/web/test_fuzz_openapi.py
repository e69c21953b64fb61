"""Schemathesis against the served OpenAPI document: every operation, positive and negative data, all checks."""

import pytest
import schemathesis

from tests.support.fuzzing import TALLY, SigningSender, assert_budget_met, fuzz_settings, make_app, record
from tests.support.settings import TOKEN

pytestmark = pytest.mark.fuzz

# Operations whose requests carry data; the four plain GETs have no inputs and run the few cases there are.
WITH_INPUTS = (
    "POST /webhooks/generic",
    "POST /webhooks/zendesk",
    "POST /webhooks/jira",
    "POST /api/v1/tickets",
    "GET /api/v1/tickets/{ticket_id}",
)
# Schemathesis's defaults, plus 413 among the right answers to invalid data: a body over the size limit is
# refused before it is read, whatever else is wrong with it. And 422 among the answers to valid data: the generator
# repeats delivery keys (X-Triage-Delivery, Idempotency-Key) with other bodies, which is a documented conflict.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
            },
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
        }
    }
)
PER_OPERATION = 300  # fuzzing-phase cases each; the coverage phase and the plain GETs add about 700 more


@pytest.fixture(scope="module")
def openapi_schema(tmp_path_factory, models_dir):
    app = make_app(tmp_path_factory.mktemp("openapi"), models_dir)
    # Schemathesis calls the app in-process; the sender in front signs whatever body it generated.
    schema = schemathesis.openapi.from_wsgi("/openapi.json", SigningSender(app), config=CONFIG)
    yield schema
    app.extensions["triage"].db.dispose()


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # schemathesis 4.32's fixture-loaded schemas read Node._nodeid, which pytest 9.2 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("openapi_schema")


@schema.parametrize()
@fuzz_settings(PER_OPERATION)
def test_every_operation_answers_as_its_document_says(case):
    record("openapi")
    record(f"openapi {case.operation.label}")
    # The default checks: no 5xx, documented status codes, content types, headers and schemas, invalid data
    # rejected, valid data accepted, auth enforced.
    response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
    record(f"openapi {case.operation.label} {response.status_code}")


def test_schemathesis_tests_every_operation_of_the_document(openapi_schema):
    labels = {op.ok().label for op in openapi_schema.get_all_operations()}
    documented = {
        f"{method.upper()} {path}" for path, item in openapi_schema.raw_schema["paths"].items() for method in item
    }
    # Schemathesis leaves out the document's own URL; everything else is fuzzed.
    assert labels == documented - {"GET /openapi.json"}
    assert set(WITH_INPUTS) <= labels


def test_schemathesis_ran_its_budget_on_every_operation(request):
    selected = any(
        item.originalname == "test_every_operation_answers_as_its_document_says" for item in request.session.items
    )
    if not selected:
        pytest.skip("the schemathesis test was not selected in this run")
    short = {label: TALLY[f"openapi {label}"] for label in WITH_INPUTS if TALLY[f"openapi {label}"] < PER_OPERATION}
    assert not short, f"operations that ran fewer than {PER_OPERATION} cases: {short}"
    assert_budget_met("openapi")
    # The sender signed the cases with well-formed signature headers, so the parser behind each check ran:
    # each operation took some requests (2xx) and refused others for what they said (400/404), not only as
    # unsigned (401).
    for label in WITH_INPUTS:
        codes = {int(k.rsplit(" ", 1)[1]): v for k, v in TALLY.items() if k.startswith(f"openapi {label} ")}
        reading = label.startswith("GET")  # random ids seldom name a stored ticket: a few 200s, many 404s
        accepted = sum(v for c, v in codes.items() if c < 300)
        assert accepted >= (1 if reading else 20) and codes.get(404 if reading else 400, 0) >= 20, (label, codes)
