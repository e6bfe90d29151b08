"""POST /whatsapp end to end: signatures, the form, TwiML."""

import os
import subprocess
import sys

import pytest

from bot import create_app
from bot.config import ROOT, ConfigError
from tests.conftest import AUTH_TOKEN, PATIENT, WhatsApp, replies_of

WELCOME = "Notice: information, not medical advice. AGENT for a person, STOP to stop."
MENU = "Topics:\n1. About therapy\n2. Side effects\n3. Costs\n4. Talk to a person"
SIDE_EFFECTS = "Fever and chills are common. Ask your care team.\n\nRelated:\n1. Coping\n2. What to expect"


def test_a_greeting_gets_the_notice_and_the_menu_in_one_message(whatsapp):
    assert whatsapp.send("hello") == [f"{WELCOME}\n\nWelcome to the test clinic.\n{MENU}\nReply AGENT for a person."]


def test_the_answer_is_twiml(whatsapp):
    response = whatsapp.post(whatsapp.form("what are the side effects"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert replies_of(response) == [f"{WELCOME}\n\n{SIDE_EFFECTS}"]


def test_a_number_after_the_menu_picks_that_topic(whatsapp):
    whatsapp.send("hello")
    assert whatsapp.send("2") == [SIDE_EFFECTS]
    assert whatsapp.send("2") == ["Page one, before treatment. Ask your care team.\n\nReply MORE (1/3)"]
    assert whatsapp.send("more") == ["Page two, during treatment. Ask your care team.\n\nReply MORE (2/3)"]
    assert whatsapp.send("more") == ["Page three, after treatment. Ask your care team.\n\nRelated:\n1. Side effects"]


def test_a_number_with_no_menu_shows_the_menu(whatsapp):
    whatsapp.send("hello")
    whatsapp.send("3")
    assert whatsapp.send("7") == [f"That number is not on the list. {MENU}"]


def test_stop_then_silence_then_start(whatsapp, store):
    whatsapp.send("hello")
    assert whatsapp.send("STOP") == ["You will get no more messages. Write START to resume."]
    response = whatsapp.post(whatsapp.form("what are the side effects"))
    assert response.status_code == 200 and b"<Response />" in response.data
    assert whatsapp.send("chest pain now") == ["Call 112 (emergency) or 108 (ambulance) now."]
    assert whatsapp.send("START") == ["Messages are on again."]
    assert whatsapp.send("what are the side effects") == [SIDE_EFFECTS]


def test_a_hindi_conversation_switching_to_english(whatsapp):
    assert whatsapp.send("side effect kya hai") == [
        "सूचना: यह जानकारी है, डॉक्टर की सलाह नहीं।\n\n"
        "बुखार और ठंड लगना आम है। अपनी केयर टीम से पूछें।\n\nRelated:\n1. Coping\n2. What to expect"]
    assert whatsapp.send("English") == [f"English it is. {MENU}"]
    assert whatsapp.send("2") == [SIDE_EFFECTS]


def test_a_tapped_button_answers_its_topic(whatsapp):
    whatsapp.send("hello")
    assert whatsapp.send("Costs", ButtonPayload="costs", ButtonText="Costs") == ["Costs vary. Ask the care team for an estimate."]
    # A list item comes back as ListId; an old message's button still means its topic.
    assert whatsapp.send("Side effects", ListId="side_effects", ListTitle="Side effects") == [SIDE_EFFECTS]


def test_a_location_gets_a_polite_reply(whatsapp):
    whatsapp.send("hello")
    assert whatsapp.send("", Latitude="19.0760", Longitude="72.8777", Address="Mumbai") == [
        "I cannot use locations. Please type your question."]


def test_delete_my_data_after_confirmation(whatsapp, store):
    whatsapp.send("what are the side effects")
    assert whatsapp.send("delete my data") == ["Delete everything about you? Reply YES or NO."]
    assert whatsapp.send("YES") == ["Your data is deleted."]
    assert store.transcript(PATIENT) == [] and store.load(PATIENT) == {} and store.notice(PATIENT) is None


def test_a_form_without_sender_gets_an_empty_response(whatsapp, store):
    response = whatsapp.post(whatsapp.form("hello", From=None))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert replies_of(response) == []
    assert b"<Response />" in response.data


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSByaWdodCBzaWduYXR1cmU="])
def test_missing_or_wrong_signature_is_refused_and_changes_nothing(whatsapp, store, signature):
    response = whatsapp.post(whatsapp.form("hello"), signature=signature)
    assert response.status_code == 403
    assert store.transcript(PATIENT) == []


def test_signed_with_another_token_is_refused(app, store):
    impostor = WhatsApp(app.test_client(), token="someone-elses-token")
    assert impostor.post(impostor.form("hello")).status_code == 403
    assert store.transcript(PATIENT) == []


def test_a_tampered_body_is_refused(whatsapp, store):
    form = whatsapp.form("what does it cost")
    signature = whatsapp.sign(form)
    form["Body"] = "stop"
    assert whatsapp.post(form, signature=signature).status_code == 403
    assert store.transcript(PATIENT) == []


def test_a_stale_signature_from_an_earlier_message_is_refused(whatsapp, store):
    earlier = whatsapp.form("hello")
    signature = whatsapp.sign(earlier)
    assert whatsapp.post(whatsapp.form("hello"), signature=signature).status_code == 403


def test_a_signature_for_another_url_is_refused(whatsapp):
    form = whatsapp.form("hello")
    signature = whatsapp.sign(form, url="https://elsewhere.example.org/whatsapp")
    assert whatsapp.post(form, signature=signature).status_code == 403


def test_extra_fields_added_after_signing_are_refused(whatsapp):
    form = whatsapp.form("hello")
    signature = whatsapp.sign(form)
    form["Latitude"] = "12.97"
    assert whatsapp.post(form, signature=signature).status_code == 403


def test_behind_a_tls_proxy_the_public_base_url_is_what_is_checked(test_config):
    app = create_app({**test_config, "PUBLIC_BASE_URL": "https://bot.clinic.example/"})
    # Flask sees plain http on an internal host, Twilio signed the public https address.
    sender = WhatsApp(app.test_client(), base_url="http://10.0.0.5:8000")
    form = sender.form("hello")
    assert sender.post(form, signature=sender.sign(form, "https://bot.clinic.example/whatsapp")).status_code == 200
    assert sender.post(form).status_code == 403


def test_proxy_hops_trust_forwarded_headers(test_config):
    app = create_app({**test_config, "PROXY_HOPS": 1})
    sender = WhatsApp(app.test_client(), base_url="http://127.0.0.1:8000")
    form = sender.form("hello")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc123.ngrok.example"}
    signature = sender.sign(form, "https://abc123.ngrok.example/whatsapp")
    assert sender.post(form, signature=signature, headers=forwarded).status_code == 200
    # Without the setting the same request is checked against the internal URL and refused.
    plain = WhatsApp(create_app(test_config).test_client(), base_url="http://127.0.0.1:8000")
    assert plain.post(form, signature=signature, headers=forwarded).status_code == 403


def test_unknown_fields_and_a_non_e164_sender_are_accepted(app, store):
    sender = WhatsApp(app.test_client(), sender="messenger:1234567890123")
    replies = sender.send("what are the side effects", SomeFieldTwilioAddsLater="x", ChannelMetadata="{}")
    assert replies == [f"{WELCOME}\n\n{SIDE_EFFECTS}"]
    assert [m["role"] for m in store.transcript("messenger:1234567890123")] == ["patient", "assistant"]


def test_odd_values_get_a_polite_reply_not_an_error(whatsapp):
    assert whatsapp.send("hello", NumMedia="lots")
    assert whatsapp.send("x" * 5000) == ["That message is too long. Please ask a shorter question."]
    assert whatsapp.send("") == ["Please type your question."]
    assert whatsapp.send("\x00\x07 \u202e\u200f") == ["Please type your question."]
    assert whatsapp.send("🙏🙏") == ["Please type your question."]


def test_a_voice_note_without_text_gets_the_media_reply(whatsapp):
    whatsapp.send("hello")
    replies = whatsapp.send("", NumMedia="1", MediaContentType0="audio/ogg", MediaUrl0="https://api.twilio.com/x")
    assert replies == ["I can read text only. Please type your question."]


def test_without_auth_token_the_app_refuses_to_start(test_config):
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        create_app({**test_config, "TWILIO_AUTH_TOKEN": ""})
    # Local development may turn the check off explicitly, and then unsigned requests pass.
    app = create_app({**test_config, "TWILIO_AUTH_TOKEN": "", "SKIP_SIGNATURE_CHECK": True})
    sender = WhatsApp(app.test_client())
    assert sender.post(sender.form("hello"), signature="").status_code == 200


def test_the_wsgi_entry_point_names_the_missing_variable(test_config):
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "SKIP_SIGNATURE_CHECK")}
    env.update(REDIS_URL=test_config["REDIS_URL"], KNOWLEDGE_PATH=test_config["KNOWLEDGE_PATH"])
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr


def test_an_internal_failure_gets_an_apology_not_a_500(app, whatsapp, store):
    store.redis.set(store.key("state", PATIENT), "{not json")
    response = whatsapp.post(whatsapp.form("hello"))
    assert response.status_code == 200
    assert replies_of(response) == ["Sorry, I cannot answer right now. In an emergency call 112 (emergency) or 108 (ambulance)."]
