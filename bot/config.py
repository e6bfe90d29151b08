"""Every setting of the assistant in one place, read from the environment with safe defaults."""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which variable to fix."""


def _setting(default, doc, secret=False):
    # Secrets stay out of repr(), so a logged or printed Settings never shows them.
    return field(default=default, repr=not secret, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """The assistant's settings; each field is an environment variable of the same name."""

    ENVIRONMENT: str = _setting("production", "`production` or `development`. Production requires TWILIO_AUTH_TOKEN and SECRET_KEY and refuses SKIP_SIGNATURE_CHECK.")
    SECRET_KEY: str = _setting("", "Signs the console's session cookies; at least 32 random characters. Required in production; in development a key is made once in DATA_DIR.", secret=True)
    TWILIO_AUTH_TOKEN: str = _setting("", "Auth token of the Twilio account; signs every webhook request. Required unless SKIP_SIGNATURE_CHECK is set in development.", secret=True)
    TWILIO_ACCOUNT_SID: str = _setting("", "Account SID (AC...) of the Twilio account, for messages the app sends itself (coordinator replies, alerts).")
    TWILIO_FROM: str = _setting("", "The WhatsApp number the app sends from, e.g. `whatsapp:+14155238886` (the sandbox).")
    TWILIO_MESSAGING_SERVICE_SID: str = _setting("", "A Messaging Service (MG...) to send from instead of TWILIO_FROM.")
    TWILIO_API_BASE_URL: str = _setting("https://api.twilio.com", "Twilio's REST API address; only tests change it.")
    TWILIO_TIMEOUT: int = _setting(10, "Seconds to wait for Twilio's REST API before giving up on a send.")
    SKIP_SIGNATURE_CHECK: bool = _setting(False, "`1` turns off the webhook's signature check. Only with ENVIRONMENT=development.")
    PUBLIC_BASE_URL: str = _setting("", "The public address Twilio calls, e.g. `https://bot.example.org`. When set, signatures are checked against it instead of the URL Flask sees.")
    PROXY_HOPS: int = _setting(0, "Number of reverse proxies (TLS terminator, tunnel) in front of the app whose `X-Forwarded-*` headers are trusted.")
    REDIS_URL: str = _setting("", "Redis server, e.g. `redis://localhost:6379/0`. Empty: an embedded Redis on a file in DATA_DIR (one machine only).", secret=True)
    REDIS_TIMEOUT: float = _setting(0.3, "Seconds to wait for Redis before giving up; keeps the apology to patients under a second when Redis is down.")
    DATA_DIR: str = _setting(str(ROOT / "instance"), "Folder of this machine's files: the embedded Redis, messages kept while Redis was down, the development secret key.")
    KEY_PREFIX: str = _setting("ilbot:", "Prefix of every Redis key the assistant writes.")
    KNOWLEDGE_PATH: str = _setting(str(ROOT / "responses.yaml"), "The knowledge file: intents, phrases and every reply.")
    TRANSCRIPT_LIMIT: int = _setting(200, "Messages kept per conversation; older ones are dropped.")
    RETENTION_DAYS: int = _setting(90, "Days a conversation's state and transcript are kept after its last message.")
    EMERGENCY_NUMBERS: str = _setting("112 (emergency) or 108 (ambulance)", "Numbers given in the emergency reply.")
    LOCK_WAIT: float = _setting(10.0, "Seconds a message waits while the same sender's previous message is answered; then it is kept unanswered and the patient gets an apology.")
    LOCK_TIMEOUT: float = _setting(5.0, "Longest a message may take to answer while it holds its sender's lock; after it the lock is given up (a crashed worker) and the overrun logged. Keep it under LOCK_WAIT.")
    RATE_LIMIT: int = _setting(20, "Messages one sender may send per RATE_WINDOW; beyond it they are kept but not answered, after one polite notice. Emergencies always get through.")
    RATE_WINDOW: int = _setting(60, "Seconds of the rate limit's window.")
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

    @property
    def production(self):
        return self.ENVIRONMENT == "production"

    def check_for_server(self):
        """Refuse to serve webhooks without a way to check Twilio's signatures, or in production without secrets."""
        if self.ENVIRONMENT not in ("production", "development"):
            raise ConfigError(f"ENVIRONMENT must be production or development, not {self.ENVIRONMENT!r}")
        problems = []
        if not self.TWILIO_AUTH_TOKEN and (self.production or not self.SKIP_SIGNATURE_CHECK):
            problems.append("TWILIO_AUTH_TOKEN is not set: set it to your Twilio account's auth token"
                            + ("" if self.production else " (or SKIP_SIGNATURE_CHECK=1 for local development only)"))
        if self.production and self.SKIP_SIGNATURE_CHECK:
            problems.append("SKIP_SIGNATURE_CHECK is for development only: unset it, or set ENVIRONMENT=development")
        for name in ("REDIS_TIMEOUT", "LOCK_WAIT", "LOCK_TIMEOUT", "RATE_LIMIT", "RATE_WINDOW"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be more than 0")
        if self.production and len(self.SECRET_KEY) < 32:
            problems.append("SECRET_KEY is not set or shorter than 32 characters: set it to a long random string, "
                            "e.g. the output of `python3 -c 'import secrets; print(secrets.token_hex(32))'`")
        if problems:
            raise ConfigError("; ".join(problems))

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
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{f.name} must be a number of seconds, not {raw!r}") from None
    return raw

