from pathlib import Path

import pytest

from service.core.settings import ConfigError, Secret, Settings, describe


def test_defaults_run_embedded_on_sqlite_without_any_environment():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.embedded


def test_environment_values_are_parsed_to_their_types():
    settings = Settings.from_env(
        {
            "TRIAGE_MAX_BODY_BYTES": "1024",
            "TRIAGE_MODELS_DIR": "/srv/models",
            "TRIAGE_HTTP_TIMEOUT_S": "2.5",
            "TRIAGE_BROKER_URL": "redis://r:6379/0",
        }
    )
    assert settings.max_body_bytes == 1024
    assert settings.models_dir == Path("/srv/models")
    assert settings.http_timeout_s == 2.5
    assert not settings.embedded


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("TRIAGE_MAX_BODY_BYTES", "lots", "not a valid int"),
        ("TRIAGE_MAX_BODY_BYTES", "0", "must be positive"),
        ("TRIAGE_HTTP_TIMEOUT_S", "ten", "not a valid float"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(key, value, words):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({key: value})
    assert key in str(info.value) and words in str(info.value)


def test_booleans_accept_only_true_or_false():
    from service.core.settings_read import _parse

    assert _parse("TRIAGE_X", "true", "bool") is True
    assert _parse("TRIAGE_X", "false", "bool") is False
    with pytest.raises(ConfigError):
        _parse("TRIAGE_X", "yes", "bool")


def test_secret_can_come_from_a_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    settings = Settings.from_env({"TRIAGE_WEBHOOK_SECRET_FILE": str(path)})
    assert settings.webhook_secret.reveal() == "from-file"


def test_secret_in_both_env_and_file_is_ambiguous(tmp_path):
    path = tmp_path / "secret"
    path.write_text("x")
    with pytest.raises(ConfigError, match="either"):
        Settings.from_env({"TRIAGE_WEBHOOK_SECRET": "y", "TRIAGE_WEBHOOK_SECRET_FILE": str(path)})


def test_unreadable_secret_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="TRIAGE_API_TOKENS_FILE"):
        Settings.from_env({"TRIAGE_API_TOKENS_FILE": str(tmp_path / "missing")})


def test_secrets_never_show_in_repr_or_str():
    settings = Settings.from_env({"TRIAGE_WEBHOOK_SECRET": "hunter2", "TRIAGE_API_TOKENS": "tok1,tok2"})
    assert "hunter2" not in repr(settings) and "tok1" not in repr(settings)
    assert "hunter2" not in str(Secret("hunter2"))
    assert settings.api_token_list == ["tok1", "tok2"]


def test_every_setting_is_documented():
    rows = describe()
    assert rows and all(name.startswith("TRIAGE_") and doc for name, _, doc in rows)
