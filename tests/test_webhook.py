"""POST /whatsapp end to end: signatures, the form, TwiML."""

import os
import subprocess
import sys
import time

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
    # The emergency put the chat in the coordinators' queue; the patient leaves it to ask the assistant again.
    assert whatsapp.send("what are the side effects") == []
    whatsapp.send("cancel")
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


@pytest.fixture
def returning(app, store):
    """The patient has chatted before: the first-contact welcome is not part of the flow."""
    store.record_notice(PATIENT, app.extensions["assistant"].knowledge_file.current().notice_version)


def test_the_handoff_end_to_end_through_the_webhook(app, whatsapp, store, twilio_api, returning):
    """Ask for a person, wait in silence, meet the coordinator, go back to the assistant."""
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    assert whatsapp.send("agent") == ["A coordinator will take over. Reply CANCEL to go back."]
    # The alerts wait in the job list: the answer above did not wait for Twilio.
    assert twilio_api.messages == [] and handoff.jobs.pending() == 2
    assert whatsapp.send("are you there?") == []
    handoff.claim(PATIENT, "Priya")
    assert whatsapp.send("hello?") == []
    handoff.hand_back(PATIENT, "Priya")
    worker.run_once()
    assert [m["Body"] for m in twilio_api.messages if m["To"] == PATIENT] == [
        "You are chatting with Priya.", "You are back with the assistant."]
    assert whatsapp.send("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]
    roles = [(e["role"], e.get("event")) for e in store.transcript(PATIENT)]
    assert roles == [("event", "waiting"), ("patient", None), ("assistant", None), ("patient", None),
                     ("event", "claimed"), ("assistant", None), ("patient", None), ("event", "returned"),
                     ("assistant", None), ("patient", None), ("assistant", None)]


def test_cancel_and_the_offer_through_the_webhook(whatsapp, store):
    whatsapp.send("agent")
    assert whatsapp.send("CANCEL") == ["No coordinator will take over. You are back with the assistant."]
    whatsapp.send("who won the cricket match yesterday")
    assert whatsapp.send("what is the capital of peru") == ["Shall I ask a coordinator? Reply YES."]
    assert whatsapp.send("haan") == ["A coordinator will reply soon. Reply CANCEL to go back."]
    assert store.waiting()[0]["reason"] == "offer"


def test_an_emergency_through_the_webhook_in_every_state(app, whatsapp, store):
    handoff = app.extensions["assistant"].handoff
    emergency = ["Call 112 (emergency) or 108 (ambulance) now."]
    assert whatsapp.send("chest pain now") == emergency  # with the assistant
    assert store.waiting()[0]["urgent"]
    assert whatsapp.send("i cannot breathe") == emergency  # waiting
    handoff.claim(PATIENT, "Priya")
    assert whatsapp.send("chest pain now") == emergency  # with a coordinator
    assert store.chat(PATIENT)["urgent"]


def sign_status(whatsapp, form):
    return whatsapp.post(form, path="/twilio/status")


def test_delivery_reports_update_the_status_of_a_coordinators_reply(app, whatsapp, store, twilio_api):
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    handoff.reply(PATIENT, "Priya", "Hello Asha")
    worker.run_once()
    sid = [m["sid"] for m in twilio_api.messages if m.get("Body") == "Hello Asha"][0]
    ref = [e for e in store.transcript(PATIENT) if e["role"] == "coordinator"][0]["ref"]
    report = {"MessageSid": sid, "MessageStatus": "delivered", "To": PATIENT, "From": "whatsapp:+14155238886",
              "AccountSid": "AC" + "1" * 32, "ApiVersion": "2010-04-01"}
    assert sign_status(whatsapp, report).status_code == 200
    assert store.deliveries(PATIENT)[ref] == "delivered"
    # A late "sent" does not hide "delivered"; "read" does move it on.
    sign_status(whatsapp, {**report, "MessageStatus": "sent"})
    assert store.deliveries(PATIENT)[ref] == "delivered"
    sign_status(whatsapp, {**report, "MessageStatus": "read"})
    assert store.deliveries(PATIENT)[ref] == "read"


def test_a_forged_or_unknown_delivery_report_changes_nothing(app, whatsapp, store, twilio_api):
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    handoff.reply(PATIENT, "Priya", "Hello Asha")
    worker.run_once()
    sid = [m["sid"] for m in twilio_api.messages if m.get("Body") == "Hello Asha"][0]
    before = store.deliveries(PATIENT)
    report = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30008", "To": PATIENT}
    assert whatsapp.post(report, signature="", path="/twilio/status").status_code == 403
    forged = WhatsApp(app.test_client(), token="someone-elses-token")
    assert forged.post(report, path="/twilio/status").status_code == 403
    assert store.deliveries(PATIENT) == before
    assert sign_status(whatsapp, {**report, "MessageSid": "SM" + "0" * 32}).status_code == 204
    assert store.deliveries(PATIENT) == before
    assert sign_status(whatsapp, report).status_code == 200
    assert "failed 30008" in store.deliveries(PATIENT).values()


def test_a_coordinators_reply_refused_because_the_patient_opted_out_stops_all_messages(app, whatsapp, store, twilio_api):
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    worker.run_once()
    twilio_api.refuse(21610, message="Attempt to send to unsubscribed recipient")
    handoff.reply(PATIENT, "Priya", "Hello Asha")
    worker.run_once()
    assert store.opted_out(PATIENT)
    handoff.hand_back(PATIENT, "Priya")
    assert whatsapp.send("what are the side effects") == []


def test_a_delivery_report_of_a_block_marks_the_patient_opted_out(app, whatsapp, store, twilio_api):
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    handoff.reply(PATIENT, "Priya", "Hello Asha")
    worker.run_once()
    sid = [m["sid"] for m in twilio_api.messages if m.get("Body") == "Hello Asha"][0]
    report = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63014", "To": PATIENT}
    assert sign_status(whatsapp, report).status_code == 200
    assert store.opted_out(PATIENT)


def test_a_late_63016_report_holds_the_reply_for_the_patients_next_message(test_config, twilio_api):
    app = create_app({**test_config, "WINDOW_TEMPLATE_SID": "HX" + "c" * 32})
    whatsapp, store = WhatsApp(app.test_client()), app.extensions["assistant"].store
    handoff, worker = app.extensions["assistant"].handoff, app.extensions["worker"]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    handoff.reply(PATIENT, "Priya", "Hello Asha")
    worker.run_once()
    sid = [m["sid"] for m in twilio_api.messages if m.get("Body") == "Hello Asha"][0]
    report = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016", "To": PATIENT}
    assert sign_status(whatsapp, report).status_code == 200
    assert [e["text"] for e in store.held(PATIENT)] == ["Hello Asha"]
    ref = [e for e in store.transcript(PATIENT) if e["role"] == "coordinator"][0]["ref"]
    assert store.deliveries(PATIENT)[ref] == "held"
    worker.run_once()
    assert twilio_api.messages[-1]["ContentSid"] == "HX" + "c" * 32
    assert whatsapp.send("I am here") == []
    worker.run_once()
    assert twilio_api.messages[-1]["Body"] == "Hello Asha"


def test_after_an_automatic_return_or_a_close_the_assistant_answers_through_the_webhook(app, whatsapp, store, returning):
    handoff = app.extensions["assistant"].handoff
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    assert whatsapp.send("what are the side effects") == []
    handoff.sweep(time.time() + handoff.settings.HANDBACK_AFTER_MINUTES * 60 + 1)
    assert whatsapp.send("what are the side effects") == [SIDE_EFFECTS]
    whatsapp.send("agent")
    handoff.claim(PATIENT, "Priya")
    handoff.hand_back(PATIENT, "Priya", outcome="answered", event="closed")
    assert whatsapp.send("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]


def test_outside_office_hours_the_webhook_says_when_to_expect_an_answer(test_config):
    from tests.test_handoff import closed_hours

    app = create_app({**test_config, "OFFICE_HOURS": closed_hours()})
    [reply] = WhatsApp(app.test_client()).send("agent")
    assert reply.startswith(WELCOME + "\n\nCoordinators reply from ") and reply.endswith(" IST. Reply CANCEL to go back.")
