"""Every setting of the assistant in one place, read from the environment with safe defaults."""

import dataclasses
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.hours import HoursError, OfficeHours
from bot.safety import Limits

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """Settings are missing or malformed: one problem per argument, each naming the variable to fix."""

    def __str__(self):
        return "; ".join(str(problem) for problem in self.args)


def _setting(default, doc, secret=False):
    # Secrets stay out of repr(), so a logged or printed Settings never shows them.
    return field(default=default, repr=not secret, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """The assistant's settings; each field is an environment variable of the same name."""

    ENVIRONMENT: str = _setting("production", "`production` or `development`. Production requires TWILIO_AUTH_TOKEN and SECRET_KEY, refuses SKIP_SIGNATURE_CHECK, and sends the console's session cookie over HTTPS only.")
    SECRET_KEY: str = _setting("", "Signs the coordinators' session cookies; at least 32 random characters. Required in production; in development, empty makes a random key kept in Redis, shared by every process.", secret=True)
    TWILIO_AUTH_TOKEN: str = _setting("", "Auth token of the Twilio account; signs every webhook request. Required unless SKIP_SIGNATURE_CHECK is set in development.", secret=True)
    TWILIO_ACCOUNT_SID: str = _setting("", "Account SID (AC...) of the Twilio account, for messages the app sends itself (coordinator replies, alerts).")
    TWILIO_FROM: str = _setting("", "The WhatsApp number the app sends from, e.g. `whatsapp:+14155238886` (the sandbox).")
    TWILIO_MESSAGING_SERVICE_SID: str = _setting("", "A Messaging Service (MG...) to send from instead of TWILIO_FROM.")
    TWILIO_API_BASE_URL: str = _setting("https://api.twilio.com", "Twilio's REST API address; only tests change it.")
    TWILIO_TIMEOUT: int = _setting(10, "Seconds to wait for Twilio's REST API before giving up on a send.")
    SKIP_SIGNATURE_CHECK: bool = _setting(False, "`1` turns off the webhook's signature check. Only with ENVIRONMENT=development.")
    PUBLIC_BASE_URL: str = _setting("", "The public address Twilio calls, e.g. `https://bot.example.org`. When set, signatures are checked against it instead of the URL Flask sees.")
    PROXY_HOPS: int = _setting(0, "Number of reverse proxies (TLS terminator, tunnel) in front of the app whose `X-Forwarded-*` headers are trusted.")
    REDIS_URL: str = _setting("", "Redis server, e.g. `redis://:PASSWORD@redis.example.org:6379/0`, or `rediss://...` for TLS (certificate and host name checked; `?ssl_ca_certs=FILE` for a private CA). Empty: an embedded Redis on a file in DATA_DIR (one machine only).", secret=True)
    REDIS_SENTINELS: str = _setting("", "Redis Sentinels that name the master, as `host:port,host:port`; the app asks them where the master is, again after a failover. REDIS_URL then gives only the master's user, password, database and TLS options (its host is not used).")
    REDIS_SENTINEL_SERVICE: str = _setting("mymaster", "The master's name as the Sentinels know it (`sentinel monitor NAME ...`).")
    REDIS_SENTINEL_PASSWORD: str = _setting("", "Password of the Sentinels themselves, when they require one; the master's is in REDIS_URL.", secret=True)
    REDIS_TIMEOUT: float = _setting(0.3, "Seconds to wait for Redis before giving up; keeps the apology to patients under a second when Redis is down.")
    DATA_DIR: str = _setting(str(ROOT / "instance"), "Folder of this machine's files: the embedded Redis and messages kept while Redis was down.")
    KEY_PREFIX: str = _setting("ilbot:", "Prefix of every Redis key the assistant writes.")
    KNOWLEDGE_PATH: str = _setting(str(ROOT / "responses.yaml"), "The knowledge file: intents, phrases and every reply.")
    LANGUAGE_DIR: str = _setting(str(ROOT / "language"), "The folder of the language files (synonyms.yaml, reading.yaml, out_of_scope.yaml): how patients' words are read, kept by developers. Empty: none.")
    SAFETY_PATH: str = _setting(str(ROOT / "safety.yaml"), "The red flags that open the emergency path, owned by the clinic; reloaded with the knowledge file, and an edit that breaks its must_alarm / must_not_alarm messages is refused.")
    KNOWLEDGE_MAX_MB: int = _setting(4, "Megabytes the knowledge file, the red flags and each language file may hold; a larger file is refused before it is read (today's are under 0.3 MB).")
    TRANSCRIPT_LIMIT: int = _setting(5000, "Entries (both sides and notes) a transcript may hold before messages over RATE_LIMIT are no longer kept, only counted in a note; nothing already kept is dropped for them.")
    RETENTION_DAYS: int = _setting(90, "Days a conversation's state and transcript are kept after its last message; also how long each question the assistant could not answer is kept for operations.")
    REVIEW_MAX_DAYS: int = _setting(365, "A clinical review (`reviewed_on` of an intent in the knowledge file) older than this many days is reported by `python -m bot check` and the console's knowledge page.")
    MEDICAL_INTENTS: str = _setting("about_therapy,how_it_works,benefits,cancer_types,side_effects,manage_side_effects,comparison,administration,duration,what_to_expect,research,eligibility,nutrition,lifestyle", "The intents whose replies are medical, comma-separated; an id covers its sub-intents too (`benefits` covers `benefits.prognosis`). The console's knowledge page lists those no clinician has signed off, and UNSIGNED_MEDICAL_REPLIES says what patients get meanwhile.")
    UNSIGNED_MEDICAL_REPLIES: str = _setting("send", "What a patient gets for a medical intent (MEDICAL_INTENTS) whose reply no clinician has signed off (`reviewed_by` or `reviewed_on` empty): `send` the reply, or `offer` a coordinator instead (YES puts the chat in the queue). Emergency replies always go out.")
    QUICK_REPLY_SIDS: str = _setting("", "Content templates (twilio/quick-reply) for lists of 1 to 3 choices, as `count=HX...` pairs separated by commas, e.g. `2=HX...,3=HX...`. Lists without a template go out as numbered text.")
    LIST_PICKER_SIDS: str = _setting("", "Content templates (twilio/list-picker) for lists of up to 10 choices, as `count=HX...` pairs, e.g. `8=HX...` for the topic menu.")
    CLARIFY_MARGIN: int = _setting(8, "Points (0-100) the best topic must lead the next one by to be answered; closer than that, the assistant asks which of the two was meant.")
    EMERGENCY_NUMBERS: str = _setting("112 (emergency) or 108 (ambulance)", "Numbers given in the emergency reply (and wherever `{emergency_numbers}` stands), in English.")
    EMERGENCY_NUMBERS_HI: str = _setting("112 (इमरजेंसी) या 108 (एम्बुलेंस)", "The same numbers with the words around them in Hindi, for Hindi replies.")
    MENTAL_HEALTH_HELPLINE: str = _setting("Tele-MANAS 14416 (free, 24 hours)", "The mental-health helpline given with the emergency numbers when a message speaks of suicide or self-harm.")
    MENTAL_HEALTH_HELPLINE_HI: str = _setting("टेली-मानस 14416 (मुफ़्त, 24 घंटे)", "The same helpline in Hindi.")
    FEVER_ALARM_C: float = _setting(38.5, "A temperature written in a message (°C, or °F converted) at or above this opens the emergency path.")
    LOW_BP_SYSTOLIC: int = _setting(90, "A blood pressure written in a message (\"bp 85/50\") whose upper number is below this opens the emergency path.")
    FAST_PULSE: int = _setting(130, "A pulse written in a message at or above this opens the emergency path.")
    DIARRHOEA_VOMIT_TIMES: int = _setting(6, "Vomiting or diarrhoea counted in a message (\"dast 12 baar\") this many times or more opens the emergency path.")
    WEIGHT_GAIN_KG: float = _setting(2.0, "A weight gain written in a message as two weights (\"vajan 56 se 59 kilo\") of this many kilograms or more opens the emergency path.")
    LOCK_WAIT: float = _setting(10.0, "Seconds a message waits while the same sender's previous message is answered; then it is kept unanswered and the patient gets an apology.")
    LOCK_TIMEOUT: float = _setting(5.0, "Longest a message may take to answer while it holds its sender's lock; after it the lock is given up (a crashed worker) and the overrun logged. Keep it under LOCK_WAIT.")
    RATE_LIMIT: int = _setting(20, "Messages one sender may send per RATE_WINDOW; beyond it they are kept but not answered, after one polite notice (up to TRANSCRIPT_LIMIT). Emergencies always get through.")
    RATE_WINDOW: int = _setting(60, "Seconds of the rate limit's window.")
    LOG_LEVEL: str = _setting("INFO", "Python log level.")
    OFFICE_HOURS: str = _setting("Mon-Sat 09:00-18:00", "When coordinators answer, e.g. `Mon-Fri 09:00-18:00; Sat 09:00-13:00`. Empty: always. Outside them patients are told when to expect an answer; emergencies alert at any hour.")
    OFFICE_TIMEZONE: str = _setting("Asia/Kolkata", "Time zone of OFFICE_HOURS.")
    ON_DUTY_NUMBERS: str = _setting("", "Comma-separated numbers alerted when a chat waits for a coordinator: `whatsapp:+91...` for WhatsApp, `+91...` for SMS.")
    ALERT_AGAIN_MINUTES: int = _setting(10, "A chat left unclaimed this long alerts the on-duty numbers again.")
    HANDBACK_AFTER_MINUTES: int = _setting(120, "A chat with a coordinator goes back to the assistant after this long without a message from either side.")
    WINDOW_TEMPLATE_SID: str = _setting("", "Content SID (HX...) of the approved WhatsApp template sent when the patient's last message is older than 24 hours.")
    WINDOW_TEMPLATE_VARIABLES: str = _setting("", 'JSON object of that template\'s variables, e.g. `{"1": "{coordinator}"}`; `{coordinator}` and `{patient}` are filled in.')
    BACKGROUND_WORKER: bool = _setting(True, "`1` runs the background worker (alerts, coordinator replies, re-alerts, automatic hand-back) as a thread in each web process.")
    LOGIN_MAX_FAILURES: int = _setting(5, "Failed console logins allowed per account and per address before logins from them are refused for LOGIN_LOCK_MINUTES.")
    LOGIN_LOCK_MINUTES: int = _setting(15, "How long repeated failed logins are counted and refused.")

    @classmethod
    def from_env(cls, environ=None, **overrides):
        """Build settings from the environment, with explicit overrides taking precedence."""
        environ = os.environ if environ is None else environ
        values, problems = {}, []
        # Every malformed variable is named at once, so a start-up is fixed in one go.
        for f in dataclasses.fields(cls):
            try:
                if f.name in overrides:
                    values[f.name] = overrides.pop(f.name)
                elif f.name in environ:
                    values[f.name] = _parse(f, environ[f.name])
            except ConfigError as exc:
                problems.append(str(exc))
        if overrides:
            problems.append(f"unknown setting(s): {', '.join(sorted(overrides))}")
        if problems:
            raise ConfigError(*problems)
        return cls(**values)

    def __post_init__(self):
        problems = []
        try:
            _ = self.office_hours
        except HoursError as exc:
            problems.append(str(exc))
        try:
            _ = self.template_variables
        except ValueError:
            problems.append('WINDOW_TEMPLATE_VARIABLES must be a JSON object such as {"1": "{coordinator}"}')
        if self.UNSIGNED_MEDICAL_REPLIES not in ("send", "offer"):
            problems.append(f"UNSIGNED_MEDICAL_REPLIES must be send or offer, not {self.UNSIGNED_MEDICAL_REPLIES!r}")
        if self.KNOWLEDGE_MAX_MB < 1:
            problems.append("KNOWLEDGE_MAX_MB must be at least 1 (megabytes)")
        # A malformed template setting stops the app at start-up rather than a patient's reply later.
        for name in ("quick_reply_sids", "list_picker_sids", "sentinels"):
            try:
                getattr(self, name)
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError(*problems)

    @functools.cached_property
    def quick_reply_sids(self):
        """{number of buttons: content SID} from QUICK_REPLY_SIDS; WhatsApp allows 3 buttons in a session."""
        return _templates("QUICK_REPLY_SIDS", self.QUICK_REPLY_SIDS, 3)

    @functools.cached_property
    def list_picker_sids(self):
        """{number of items: content SID} from LIST_PICKER_SIDS; WhatsApp lists hold at most 10 items."""
        return _templates("LIST_PICKER_SIDS", self.LIST_PICKER_SIDS, 10)

    @functools.cached_property
    def sentinels(self):
        """[(host, port)] from REDIS_SENTINELS; empty when the master is not found through Sentinels."""
        found = []
        for address in filter(None, (part.strip() for part in self.REDIS_SENTINELS.split(","))):
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"REDIS_SENTINELS: {address!r} should be a host and a port, e.g. sentinel-1:26379")
            found.append((host.strip("[]"), int(port)))
        return found

    @property
    def production(self):
        return self.ENVIRONMENT == "production"

    def check_for_server(self):
        """Refuse to serve webhooks without a way to check Twilio's signatures, in production without secrets,
        or with buttons but no way to send them."""
        problems = []
        if self.ENVIRONMENT not in ("production", "development"):
            problems.append(f"ENVIRONMENT must be production or development, not {self.ENVIRONMENT!r}")
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
        if (self.QUICK_REPLY_SIDS or self.LIST_PICKER_SIDS) and self.sending_missing:
            problems.append("QUICK_REPLY_SIDS / LIST_PICKER_SIDS send through Twilio's REST API: set TWILIO_ACCOUNT_SID, "
                            "TWILIO_AUTH_TOKEN and TWILIO_FROM (or TWILIO_MESSAGING_SERVICE_SID) too")
        if problems:
            raise ConfigError(*problems)

    @property
    def safety_limits(self):
        """The readings (temperature, blood pressure, pulse) that open the emergency path."""
        return Limits(self.FEVER_ALARM_C, self.LOW_BP_SYSTOLIC, self.FAST_PULSE, self.DIARRHOEA_VOMIT_TIMES,
                      self.WEIGHT_GAIN_KG)

    @functools.cached_property
    def medical_intents(self):
        """The intent ids of MEDICAL_INTENTS (each covering its sub-intents, `id.something`)."""
        return frozenset(part.strip() for part in self.MEDICAL_INTENTS.split(",") if part.strip())

    @property
    def knowledge_max_bytes(self):
        return self.KNOWLEDGE_MAX_MB * 2**20

    @property
    def retention_seconds(self):
        return self.RETENTION_DAYS * 86400

    @functools.cached_property
    def office_hours(self):
        """OFFICE_HOURS read in OFFICE_TIMEZONE."""
        return OfficeHours.parse(self.OFFICE_HOURS, self.OFFICE_TIMEZONE)

    @functools.cached_property
    def template_variables(self):
        """WINDOW_TEMPLATE_VARIABLES as a dict of strings."""
        variables = json.loads(self.WINDOW_TEMPLATE_VARIABLES or "{}")
        if not isinstance(variables, dict):
            raise ValueError("not an object")
        return {str(k): str(v) for k, v in variables.items()}

    @property
    def sending_missing(self):
        """The settings still needed to send messages through Twilio (coordinators' replies, alerts); empty when set."""
        missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(self, name)]
        if not (self.TWILIO_FROM or self.TWILIO_MESSAGING_SERVICE_SID):
            missing.append("TWILIO_FROM (or TWILIO_MESSAGING_SERVICE_SID)")
        return missing

    @functools.cached_property
    def on_duty(self):
        """The numbers to alert, without blanks."""
        return [n.strip() for n in self.ON_DUTY_NUMBERS.split(",") if n.strip()]


def _templates(name, raw, most):
    """Parse `count=HX...` pairs into {count: SID}, naming the variable when a pair is wrong."""
    sids = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        count, _, sid = pair.partition("=")
        if not count.strip().isdigit() or not 1 <= int(count) <= most or not re.fullmatch(r"HX[0-9a-fA-F]{32}", sid.strip()):
            raise ConfigError(f"{name}: {pair!r} should be a number of choices from 1 to {most}, '=', and a content SID (HX and 32 hex digits)")
        sids[int(count)] = sid.strip()
    return sids


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
            raise ConfigError(f"{f.name} must be a number, not {raw!r}") from None
    return raw

