"""Settings: parsed from the environment with clear errors, and all documented."""

import dataclasses

import pytest

from bot.config import ROOT, ConfigError, Settings


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
    with pytest.raises(ConfigError, match="ENVIRONMENT must be production or development"):
        Settings.from_env({"ENVIRONMENT": "staging"})
    with pytest.raises(ConfigError, match="WINDOW_TEMPLATE_VARIABLES must be a JSON object"):
        Settings.from_env({"WINDOW_TEMPLATE_VARIABLES": "[1, 2]"})
    settings = Settings.from_env({"ON_DUTY_NUMBERS": " whatsapp:+911, +912 ,", "WINDOW_TEMPLATE_VARIABLES": '{"1": 5}'})
    assert settings.on_duty == ["whatsapp:+911", "+912"]
    assert settings.template_variables == {"1": "5"}
