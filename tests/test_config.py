"""Settings: parsed from the environment with clear errors, and all documented."""

import dataclasses
import time

import pytest

from bot.config import ROOT, ConfigError, Settings
from tests.conftest import Gunicorn


def test_values_are_parsed_from_the_environment():
    settings = Settings.from_env({"PROXY_HOPS": "2", "SKIP_SIGNATURE_CHECK": "yes", "KEY_PREFIX": "x:"})
    assert (settings.PROXY_HOPS, settings.SKIP_SIGNATURE_CHECK, settings.KEY_PREFIX) == (2, True, "x:")


def test_a_malformed_value_names_the_variable():
    with pytest.raises(ConfigError, match="PROXY_HOPS must be a whole number"):
        Settings.from_env({"PROXY_HOPS": "one"})
    with pytest.raises(ConfigError, match="SKIP_SIGNATURE_CHECK must be 1 or 0"):
        Settings.from_env({"SKIP_SIGNATURE_CHECK": "maybe"})


def test_an_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_env({}, TWILIO_TOKEN="x")


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f"| `{f.name}` |" not in readme]
    assert missing == []


def test_handoff_settings_are_checked_when_read():
    with pytest.raises(ConfigError, match="WINDOW_TEMPLATE_VARIABLES must be a JSON object"):
        Settings.from_env({"WINDOW_TEMPLATE_VARIABLES": "[1, 2]"})
    settings = Settings.from_env({"ON_DUTY_NUMBERS": " whatsapp:+911, +912 ,", "WINDOW_TEMPLATE_VARIABLES": '{"1": 5}'})
    assert settings.on_duty == ["whatsapp:+911", "+912"]
    assert settings.template_variables == {"1": "5"}


def test_production_is_the_default_and_needs_both_secrets():
    settings = Settings.from_env({})
    assert settings.production
    with pytest.raises(ConfigError) as error:
        settings.check_for_server()
    assert "TWILIO_AUTH_TOKEN is not set" in str(error.value) and "SECRET_KEY is not set" in str(error.value)
    with pytest.raises(ConfigError, match="SECRET_KEY .* shorter than 32"):
        Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "SECRET_KEY": "short"}).check_for_server()
    Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "SECRET_KEY": "k" * 32}).check_for_server()


def test_skipping_the_signature_check_is_for_development_only():
    with pytest.raises(ConfigError, match="SKIP_SIGNATURE_CHECK is for development only"):
        Settings.from_env({"SKIP_SIGNATURE_CHECK": "1", "SECRET_KEY": "k" * 32, "TWILIO_AUTH_TOKEN": "t"}).check_for_server()
    Settings.from_env({"ENVIRONMENT": "development", "SKIP_SIGNATURE_CHECK": "1"}).check_for_server()


def test_the_readme_start_command_environment_is_enough_in_development():
    """`ENVIRONMENT=development TWILIO_AUTH_TOKEN=...` is all the README's start command sets."""
    readme = (ROOT / "README.md").read_text()
    assert "ENVIRONMENT=development TWILIO_AUTH_TOKEN=your-twilio-auth-token .venv/bin/gunicorn wsgi:app" in readme
    Settings.from_env({"ENVIRONMENT": "development", "TWILIO_AUTH_TOKEN": "your-twilio-auth-token"}).check_for_server()


def test_an_unknown_environment_and_non_positive_limits_are_refused():
    with pytest.raises(ConfigError, match="ENVIRONMENT must be production or development"):
        Settings.from_env({"ENVIRONMENT": "prod"}).check_for_server()
    with pytest.raises(ConfigError, match="RATE_LIMIT must be more than 0"):
        Settings.from_env({"ENVIRONMENT": "development", "SKIP_SIGNATURE_CHECK": "1", "RATE_LIMIT": "0"}).check_for_server()
    with pytest.raises(ConfigError, match="LOCK_WAIT must be a number"):
        Settings.from_env({"LOCK_WAIT": "ten"})


def test_secrets_never_show_in_a_printed_settings():
    settings = Settings.from_env({"TWILIO_AUTH_TOKEN": "tok-123456", "SECRET_KEY": "sec-" + "9" * 32,
                                  "REDIS_URL": "redis://:hunter2@db.example:6379/0"})
    shown = repr(settings) + str(settings)
    assert "tok-123456" not in shown and "sec-999" not in shown and "hunter2" not in shown
    assert "KEY_PREFIX" in shown


def test_every_setting_problem_is_named_at_once():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PROXY_HOPS": "two", "RATE_WINDOW": "a minute"})
    assert error.value.args == ("PROXY_HOPS must be a whole number, not 'two'",
                                "RATE_WINDOW must be a whole number, not 'a minute'")
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ENVIRONMENT": "prod", "RATE_LIMIT": "0"}).check_for_server()
    starts = ("ENVIRONMENT must be", "TWILIO_AUTH_TOKEN is not set", "RATE_LIMIT must be")
    assert len(error.value.args) == 3 and all(map(str.startswith, error.value.args, starts))


def test_a_server_with_bad_settings_stops_and_lists_them(test_config):
    """gunicorn must not start its refused workers again and again: it stops, every problem listed."""
    bad = {**test_config, "SECRET_KEY": "short", "TWILIO_AUTH_TOKEN": "", "RATE_LIMIT": 0}
    server = Gunicorn(bad, workers=2)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="gunicorn exited"):
        server.start()
    assert time.monotonic() - started < 30 and server.process.returncode != 0
    server.log.seek(0)
    log = server.log.read().decode()
    for problem in ("SECRET_KEY is not set or shorter", "TWILIO_AUTH_TOKEN is not set", "RATE_LIMIT must be more than 0"):
        assert f"- {problem}" in log
