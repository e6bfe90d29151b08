"""Logs: one JSON object per line, numbers masked, no message text, no secrets."""

import io
import json
import logging

import pytest

from bot.logs import JsonLines, mask
from tests.conftest import AUTH_TOKEN, PATIENT, SECRET_KEY, WhatsApp

SECRET_WORDS = "my tumour is in the left kidney"


@pytest.fixture
def log_lines():
    """What the app's log handler writes, as the lines a log collector would read."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)


def test_mask_keeps_the_channel_and_the_last_three_digits():
    assert mask("whatsapp:+919812345678") == "whatsapp:+*********678"
    assert mask("+14155238886") == "+********886"
    assert mask("12") == "12"


def test_what_goes_wrong_is_logged_as_json_without_patient_data_or_secrets(make_app, log_lines):
    app = make_app(RATE_LIMIT=1, LOCK_WAIT=0.2)
    whatsapp = WhatsApp(app.test_client())
    store = app.extensions["assistant"].store
    whatsapp.post(whatsapp.form(SECRET_WORDS), signature="bm90IGl0")  # forged
    whatsapp.send(SECRET_WORDS)
    whatsapp.send(SECRET_WORDS)  # over the rate limit
    with store.lock(PATIENT, "SMheld"):
        whatsapp.send(SECRET_WORDS)  # waits for the turn, gives up
    store.redis.set(store.key("state", "whatsapp:+919800000042"), "{broken")
    WhatsApp(app.test_client(), sender="whatsapp:+919800000042").send(SECRET_WORDS)  # internal failure

    lines = log_lines()
    entries = [json.loads(line) for line in lines]
    events = [e["event"] for e in entries]
    assert "rejected a request with a missing or wrong Twilio signature" in events
    assert "sender went over the rate limit" in events
    assert "gave up waiting for the sender's previous message" in events
    failure = next(e for e in entries if e["event"] == "could not answer a message")
    assert failure["level"] == "ERROR" and failure["error"] == "JSONDecodeError" and "assistant.py" in failure["trace"]
    assert {e["sender"] for e in entries if "sender" in e} == {"whatsapp:+*********678", "whatsapp:+*********042"}
    assert all({"at", "level", "logger", "event"} <= set(e) for e in entries)
    everything = "\n".join(lines)
    for private in (SECRET_WORDS, "tumour", PATIENT, "9812345678", "919800000042", AUTH_TOKEN, SECRET_KEY):
        assert private not in everything
