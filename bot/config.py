"""Every setting of the assistant in one place, read from the environment with safe defaults."""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which variable to fix."""


def _setting(default, doc):
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """The assistant's settings; each field is an environment variable of the same name."""

    TWILIO_AUTH_TOKEN: str = _setting("", "Auth token of the Twilio account; signs every webhook request. Required unless SKIP_SIGNATURE_CHECK is set.")
    TWILIO_ACCOUNT_SID: str = _setting("", "Account SID (AC...) of the Twilio account, for messages the app sends itself (coordinator replies, alerts).")
    TWILIO_FROM: str = _setting("", "The WhatsApp number the app sends from, e.g. `whatsapp:+14155238886` (the sandbox).")
    TWILIO_MESSAGING_SERVICE_SID: str = _setting("", "A Messaging Service (MG...) to send from instead of TWILIO_FROM.")
    TWILIO_API_BASE_URL: str = _setting("https://api.twilio.com", "Twilio's REST API address; only tests change it.")
    TWILIO_TIMEOUT: int = _setting(10, "Seconds to wait for Twilio's REST API before giving up on a send.")
    SKIP_SIGNATURE_CHECK: bool = _setting(False, "`1` turns off the webhook's signature check. Local development only, never in production.")
    PUBLIC_BASE_URL: str = _setting("", "The public address Twilio calls, e.g. `https://bot.example.org`. When set, signatures are checked against it instead of the URL Flask sees.")
    PROXY_HOPS: int = _setting(0, "Number of reverse proxies (TLS terminator, tunnel) in front of the app whose `X-Forwarded-*` headers are trusted.")
    REDIS_URL: str = _setting("", "Redis server, e.g. `redis://localhost:6379/0`. Empty: an embedded Redis on a file in the instance folder (one machine only).")
    KEY_PREFIX: str = _setting("ilbot:", "Prefix of every Redis key the assistant writes.")
    KNOWLEDGE_PATH: str = _setting(str(ROOT / "responses.yaml"), "The knowledge file: intents, phrases and every reply.")
    TRANSCRIPT_LIMIT: int = _setting(200, "Messages kept per conversation; older ones are dropped.")
    RETENTION_DAYS: int = _setting(90, "Days a conversation's state and transcript are kept after its last message.")
    CLARIFY_MARGIN: int = _setting(8, "Points (0-100) the best topic must lead the next one by to be answered; closer than that, the assistant asks which of the two was meant.")
    EMERGENCY_NUMBERS: str = _setting("112 (emergency) or 108 (ambulance)", "Numbers given in the emergency reply.")
    LOG_LEVEL: str = _setting("INFO", "Python log level.")

    @classmethod
    def from_env(cls, environ=None, **overrides):
        """Build settings from the environment, with explicit overrides taking precedence."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
            elif f.name in environ:
                values[f.name] = _parse(f, environ[f.name])
        if overrides:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(overrides))}")
        return cls(**values)

    def check_for_server(self):
        """Refuse to serve webhooks without a way to check Twilio's signatures."""
        if not self.TWILIO_AUTH_TOKEN and not self.SKIP_SIGNATURE_CHECK:
            raise ConfigError(
                "TWILIO_AUTH_TOKEN is not set: set it to your Twilio account's auth token "
                "(or SKIP_SIGNATURE_CHECK=1 for local development only)"
            )

    @property
    def retention_seconds(self):
        return self.RETENTION_DAYS * 86400


def _parse(f, raw):
    """Turn an environment string into the field's type, naming the variable when it cannot."""
    kind = type(f.default)
    if kind is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("", "0", "false", "no", "off"):
            return False
        raise ConfigError(f"{f.name} must be 1 or 0, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{f.name} must be a whole number, not {raw!r}") from None
    return raw

