"""Sending through Twilio's REST API: the real client against a local stand-in for api.twilio.com."""

import socket
import time

import pytest

from bot.config import Settings
from bot.outbound import Outbound, SendError
from tests.conftest import CLINIC_NUMBER


@pytest.fixture
def outbound(test_config):
    return Outbound(Settings.from_env({}, **test_config))


def test_a_text_goes_out_from_the_clinic_number(outbound, twilio_api):
    sent = outbound.send("whatsapp:+919812345678", body="Hello from your coordinator")
    assert sent.sid.startswith("SM") and sent.status == "queued"
    [message] = twilio_api.messages
    assert (message["To"], message["From"], message["Body"]) == (
        "whatsapp:+919812345678", CLINIC_NUMBER, "Hello from your coordinator")


def test_an_sms_goes_out_from_the_bare_number(outbound, twilio_api):
    outbound.send("+919812345678", body="New escalation waiting")
    assert twilio_api.messages[0]["From"] == "+14155238886"


def test_a_template_carries_its_content_sid_and_variables(outbound, twilio_api):
    outbound.send("whatsapp:+919812345678", content_sid="HX" + "a" * 32, variables={"1": "Asha"})
    message = twilio_api.messages[0]
    assert message["ContentSid"] == "HX" + "a" * 32
    assert message["ContentVariables"] == '{"1": "Asha"}'
    assert "Body" not in message


def test_a_refusal_carries_twilios_error_code(outbound, twilio_api):
    twilio_api.refuse(21610, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(SendError) as error:
        outbound.send("whatsapp:+919812345678", body="hi")
    assert error.value.code == 21610


def test_a_twilio_that_does_not_answer_gives_up_after_the_timeout(test_config):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    port = silent.getsockname()[1]
    settings = Settings.from_env({}, **{**test_config, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}", "TWILIO_TIMEOUT": 1})
    started = time.monotonic()
    with pytest.raises(SendError):
        Outbound(settings).send("whatsapp:+919812345678", body="hi")
    assert time.monotonic() - started < 5
    silent.close()
