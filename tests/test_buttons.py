"""Choices as WhatsApp buttons and lists: sent through the real Twilio client to the local stand-in for its API."""

import json

import pytest

from bot import create_app
from bot.config import ConfigError
from tests.conftest import PATIENT, WhatsApp, conversation_of, replies_of

QUICK_2 = "HX" + "2" * 32
LIST_4 = "HX" + "4" * 32
WELCOME = "Notice: information, not medical advice. AGENT for a person, STOP to stop."
# The first-contact welcome goes after the answer, in the same message.
GREETING_BODY = f"Welcome to the test clinic.\n\nReply AGENT for a person.\n\n{WELCOME}"
MENU_TEXT = "Topics:\n1. About therapy\n2. Side effects\n3. Costs\n4. Talk to a person"


@pytest.fixture
def app(test_config):
    app = create_app({**test_config, "QUICK_REPLY_SIDS": f"2={QUICK_2}", "LIST_PICKER_SIDS": f"4={LIST_4}"})
    yield app
    store = app.extensions["assistant"].store
    keys = list(store.redis.scan_iter(f"{store.prefix}*"))
    if keys:
        store.redis.delete(*keys)


def sent(twilio_api):
    """The content SID and variables of each message sent through the REST API."""
    return [(m["ContentSid"], json.loads(m["ContentVariables"])) for m in twilio_api.messages]


def test_the_menu_goes_out_as_a_list(whatsapp, twilio_api, store):
    assert whatsapp.send("hello") == []
    [(sid, variables)] = sent(twilio_api)
    assert sid == LIST_4
    assert variables == {
        "body": GREETING_BODY, "button": "Topics",
        "item1": "About therapy", "id1": "about_therapy", "item2": "Side effects", "id2": "side_effects",
        "item3": "Costs", "id3": "costs", "item4": "Talk to a person", "id4": "human_handoff",
    }
    assert twilio_api.messages[0]["To"] == PATIENT
    # The transcript keeps what the patient read, with the list as text.
    assert MENU_TEXT in store.transcript(PATIENT)[-1]["text"]


def test_follow_ups_go_out_as_quick_replies_and_a_tap_is_understood(whatsapp, twilio_api):
    whatsapp.send("hello")
    assert whatsapp.send("Side effects", ListId="side_effects", ListTitle="Side effects") == []
    sid, variables = sent(twilio_api)[-1]
    assert sid == QUICK_2
    assert variables == {"body": "Fever and chills are common. Ask your care team.",
                         "item1": "Coping", "id1": "manage_side_effects",
                         "item2": "What to expect", "id2": "what_to_expect"}
    assert whatsapp.send("What to expect", ButtonPayload="what_to_expect", ButtonText="What to expect") == [
        "Page one, before treatment. Ask your care team.\n\nReply MORE (1/3)"]


def test_a_list_without_a_template_goes_out_as_numbered_text(whatsapp, twilio_api):
    whatsapp.send("hello")
    whatsapp.send("what to expect")
    whatsapp.send("more")
    count = len(twilio_api.messages)
    assert whatsapp.send("more") == ["Page three, after treatment. Ask your care team.\n\nRelated:\n1. Side effects"]
    assert len(twilio_api.messages) == count


def test_buttons_in_hindi_carry_hindi_titles(whatsapp, twilio_api):
    whatsapp.send("hindi")
    _, variables = sent(twilio_api)[-1]
    assert (variables["item1"], variables["item2"], variables["item3"]) == ("थेरेपी क्या है", "दुष्प्रभाव", "Costs")


def test_when_twilio_fails_the_text_still_reaches_the_patient(whatsapp, twilio_api):
    twilio_api.refuse(20500, status=500, message="Internal Server Error")
    assert whatsapp.send("hello") == [f"Welcome to the test clinic.\n{MENU_TEXT}\nReply AGENT for a person.\n\n{WELCOME}"]
    assert twilio_api.messages == []


@pytest.mark.parametrize("code", [21610, 63014])
def test_a_patient_twilio_reports_as_opted_out_is_marked_and_left_alone(whatsapp, twilio_api, store, code):
    whatsapp.send("what are the side effects")
    twilio_api.refuse(code, message="Attempt to send to unsubscribed recipient")
    assert whatsapp.send("what are the side effects") == []
    assert conversation_of(store, PATIENT).opted_out
    assert whatsapp.send("how much does it cost") == []
    assert whatsapp.send("START") == ["Messages are on again."]


def test_without_templates_nothing_goes_through_the_rest_api(test_config, twilio_api):
    sender = WhatsApp(create_app(test_config).test_client())
    assert MENU_TEXT in sender.send("hello")[0]
    assert twilio_api.messages == []


def test_a_malformed_template_setting_stops_the_app_at_start(test_config):
    with pytest.raises(ConfigError, match="QUICK_REPLY_SIDS: '4=HX"):
        create_app({**test_config, "QUICK_REPLY_SIDS": f"4={QUICK_2}"})
    with pytest.raises(ConfigError, match="LIST_PICKER_SIDS"):
        create_app({**test_config, "LIST_PICKER_SIDS": "8=HX123"})


def test_the_webhook_answer_is_empty_when_buttons_went_out(whatsapp):
    response = whatsapp.post(whatsapp.form("hello"))
    assert response.status_code == 200 and replies_of(response) == []


def test_templates_without_twilio_credentials_stop_the_app_at_start(test_config):
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID"):
        create_app({**test_config, "TWILIO_ACCOUNT_SID": "", "QUICK_REPLY_SIDS": f"2={QUICK_2}"})
