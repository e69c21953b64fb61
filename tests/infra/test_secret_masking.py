"""Every secret setting and every credential an integration reads is masked wherever it shows up in a log line."""

import ast
import io
import logging
from pathlib import Path

import pytest

from service.core.settings import Secret, Settings
from service.infra import logs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured():
    buffer = io.StringIO()
    handler = logs.configure(Settings(), service=True, handler=logging.StreamHandler(buffer))
    yield buffer
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize(
    "name",
    [
        "TRIAGE_JIRA_PAT",
        "TRIAGE_JIRA_API_TOKEN",
        "TRIAGE_JIRA_WEBHOOK_SECRET",
        "TRIAGE_ZENDESK_OAUTH_TOKEN",
        "TRIAGE_ZENDESK_API_TOKEN",
        "TRIAGE_LLM_API_KEY",
        "TRIAGE_METRICS_TOKEN",
    ],
)
def test_a_credential_from_the_environment_is_masked(captured, name):
    value = f"value-of-{name.lower()}-0123456789"
    logs.register_secrets(Settings(), {name: value})
    logging.getLogger("service.test").warning("the vendor answered 401 for %s", value)
    assert value not in captured.getvalue() and logs.REDACTED in captured.getvalue()


def test_a_credential_read_from_a_file_is_masked(captured, tmp_path):
    path = tmp_path / "pat"
    path.write_text("pat-from-a-file-9876543210\n")
    logs.register_secrets(Settings(), {"TRIAGE_JIRA_PAT_FILE": str(path)})
    logging.getLogger("service.test").warning("Authorization: Bearer pat-from-a-file-9876543210")
    assert "pat-from-a-file" not in captured.getvalue()


def test_every_value_of_every_secret_setting_is_masked(captured):
    settings = Settings(
        webhook_secret=Secret("old-webhook-key-1\nnew-webhook-key-2"),
        api_tokens=Secret("api-token-one-1,api-token-two-2"),
        metrics_token=Secret("metrics-token-xyz"),
        secret_key=Secret("the-session-signing-key"),
    )
    logs.register_secrets(settings, {})
    values = ["old-webhook-key-1", "new-webhook-key-2", "api-token-one-1", "api-token-two-2", "metrics-token-xyz"]
    logging.getLogger("service.test").warning("leaked: %s the-session-signing-key", " ".join(values))
    assert not any(v in captured.getvalue() for v in [*values, "the-session-signing-key"])


def test_every_secret_an_integration_reads_has_a_name_the_masking_recognises():
    """Integrations read credentials with integrations.settings.secret(environ, NAME): each NAME must be masked."""
    names = []
    for path in (ROOT / "integrations").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "secret" and len(node.args) >= 2:
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.append(arg.value)
    assert "TRIAGE_JIRA_PAT" in names
    assert [n for n in names if not logs.credential_variable(n)] == []
    assert all(logs.credential_variable(n + "_FILE") for n in names)
