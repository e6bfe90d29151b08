"""POST /whatsapp end to end: signatures, the form, TwiML."""

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from urllib.parse import parse_qsl, quote

import pytest
import werkzeug.urls  # noqa: F401 -- registers the decoding Werkzeug uses for form bytes that are not UTF-8
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bot import create_app, webhook
from bot.config import ROOT, ConfigError
from bot.logs import JsonLines
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PATIENT, PUBLIC_URL, WhatsApp, conversation_of, replies_of

WELCOME = "Notice: information, not medical advice. AGENT for a person, STOP to stop."
MENU = "Topics:\n1. About therapy\n2. Side effects\n3. Costs\n4. Talk to a person"
SIDE_EFFECTS = "Fever and chills are common. Ask your care team.\n\nRelated:\n1. Coping\n2. What to expect"
# Every reply that is not an answer ends with the emergency numbers (the EMERGENCY_NUMBERS settings, by default).
SOS = "In an emergency call 112 (emergency) or 108 (ambulance)."
FALLBACK = f"Sorry, I did not understand. Reply MENU for topics or AGENT for a person. {SOS}"
MEDIA = f"I can read text only. Please type your question. {SOS}"
EMPTY = f"Please type your question. {SOS}"
TOO_LONG = "That message is too long. Please ask a shorter question. In an emergency call {}."
# The emergency reply ends with when a person will write (office hours are not set in the tests: always open).
EMERGENCY = "Call 112 (emergency) or 108 (ambulance) now. A coordinator will write soon."
# The welcome goes at the end of the first message, after the answer's first page and the follow-ups offered under it.
FIRST_SIDE_EFFECTS = ("Fever and chills are common. Ask your care team.\n\n"
                      f"Related:\n1. Coping\n2. What to expect\n\n{WELCOME}")


def test_a_greeting_gets_the_notice_and_the_menu_in_one_message(whatsapp):
    assert whatsapp.send("hello") == [f"Welcome to the test clinic.\n{MENU}\nReply AGENT for a person.\n\n{WELCOME}"]


def test_the_answer_is_twiml(whatsapp):
    response = whatsapp.post(whatsapp.form("what are the side effects"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert replies_of(response) == [FIRST_SIDE_EFFECTS]


def test_a_number_after_the_menu_picks_that_topic(whatsapp):
    whatsapp.send("hello")
    assert whatsapp.send("2") == [SIDE_EFFECTS]
    assert whatsapp.send("2") == ["Page one, before treatment. Ask your care team.\n\nReply MORE (1/3)"]
    assert whatsapp.send("more") == ["Page two, during treatment. Ask your care team.\n\nReply MORE (2/3)"]
    assert whatsapp.send("more") == ["Page three, after treatment. Ask your care team.\n\nRelated:\n1. Side effects"]


def test_a_number_with_no_menu_shows_the_menu(whatsapp):
    whatsapp.send("hello")
    whatsapp.send("3")
    assert whatsapp.send("7") == [f"That number is not on the list. {MENU} {SOS}"]


def test_stop_then_silence_then_start(whatsapp, store):
    whatsapp.send("hello")
    assert whatsapp.send("STOP") == ["You will get no more messages. Write START to resume."]
    response = whatsapp.post(whatsapp.form("what are the side effects"))
    assert response.status_code == 200 and b"<Response />" in response.data
    assert whatsapp.send("chest pain now") == [EMERGENCY]
    assert whatsapp.send("START") == ["Messages are on again."]
    # The emergency put the chat in the coordinators' queue; the patient leaves it to ask the assistant again.
    assert whatsapp.send("what are the side effects") == []
    whatsapp.send("cancel")
    assert whatsapp.send("what are the side effects") == [SIDE_EFFECTS]


def test_a_hindi_conversation_switching_to_english(whatsapp):
    assert whatsapp.send("side effect kya hai") == [
        "बुखार और ठंड लगना आम है। अपनी केयर टीम से पूछें।\n\n"
        "Related:\n1. Coping\n2. What to expect\n\nसूचना: यह जानकारी है, डॉक्टर की सलाह नहीं।"]
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
        f"I cannot use locations. Please type your question. {SOS}"]


def test_delete_my_data_after_confirmation(whatsapp, store):
    whatsapp.send("what are the side effects")
    assert whatsapp.send("delete my data") == ["Delete everything about you? Reply YES or NO."]
    assert whatsapp.send("YES") == ["Your data is deleted."]
    assert store.transcript(PATIENT) == [] and store.load(PATIENT) == {} and conversation_of(store, PATIENT).notice is None


def _missing(w):
    return w.form("hello"), "", "/whatsapp"


def _garbage(w):
    return w.form("hello"), "bm90IHRoZSByaWdodCBzaWduYXR1cmU=", "/whatsapp"


def _another_accounts_token(w):
    form = w.form("hello")
    return form, WhatsApp(w.client, token="someone-elses-token").sign(form), "/whatsapp"


def _tampered_body(w):
    form = w.form("what does it cost")
    signature = w.sign(form)
    return {**form, "Body": "stop"}, signature, "/whatsapp"


def _tampered_sender(w):
    form = w.form("hello")
    signature = w.sign(form)
    return {**form, "From": "whatsapp:+919800000000"}, signature, "/whatsapp"


def _another_messages_signature(w):
    signature = w.sign(w.form("hello"))
    return w.form("hello"), signature, "/whatsapp"


def _another_url(w):
    form = w.form("hello")
    return form, w.sign(form, url="https://elsewhere.example.org/whatsapp"), "/whatsapp"


def _plain_http(w):
    form = w.form("hello")
    return form, w.sign(form, url=w.base_url.replace("https:", "http:") + "/whatsapp"), "/whatsapp"


def _query_added_after_signing(w):
    form = w.form("hello")
    return form, w.sign(form), "/whatsapp?Body=stop"


def _replayed_with_an_extra_field(w):
    form = w.form("hello")
    signature = w.sign(form)
    return {**form, "Latitude": "12.97"}, signature, "/whatsapp"


def _replayed_with_a_field_removed(w):
    form = w.form("hello", ButtonPayload="2")
    signature = w.sign(form)
    return {k: v for k, v in form.items() if k != "ButtonPayload"}, signature, "/whatsapp"


def shifted(form, into, moved):
    """The form with field `moved` written into the value of `into`, the field sorted just before it.

    Twilio's signature joins the sorted names and values with nothing between them, so the shifted form
    carries the same signature as the one Twilio sent.
    """
    changed = {name: value for name, value in form.items() if name != moved}
    changed[into] = form[into] + moved + form[moved]
    return changed


def _signed_with(name, **changes):
    """A form Twilio never sends (its fields changed so), signed with the right token: refused for its fields alone."""
    def forge(w):
        form = w.form("hello", **changes)
        return form, w.sign(form), "/whatsapp"
    forge.__name__ = name
    return forge


def _repeated_field(w):
    form = MultiDict(w.form("hello"))
    form.add("From", "whatsapp:+919800000000")
    return form, w.sign(form), "/whatsapp"


def _sid_swallowing_the_media_count(w):
    form = w.form("hello")
    return shifted(form, "MessageSid", "NumMedia"), w.sign(form), "/whatsapp"


def _sender_swallowing_the_sid(w):
    form = w.form("hello")
    return shifted(form, "From", "MessageSid"), w.sign(form), "/whatsapp"


FORGERIES = [_missing, _garbage, _another_accounts_token, _tampered_body, _tampered_sender,
             _another_messages_signature, _another_url, _plain_http, _query_added_after_signing,
             _replayed_with_an_extra_field, _replayed_with_a_field_removed,
             _signed_with("without_sender", From=None), _signed_with("without_sid", MessageSid=None),
             _signed_with("sid_of_another_shape", MessageSid="SMbadbytes"),
             _signed_with("sender_not_a_phone_number", From="messenger:1234567890123"),
             _signed_with("media_count_in_words", NumMedia="lots"), _signed_with("negative_media_count", NumMedia="-3"),
             _repeated_field,
             _sid_swallowing_the_media_count, _sender_swallowing_the_sid]


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda f: f.__name__.strip("_"))
def test_a_forged_request_is_refused_and_changes_nothing(whatsapp, store, forge):
    form, signature, path = forge(whatsapp)
    before = set(store.redis.scan_iter(f"{store.prefix}*"))  # what the app keeps from start-up
    response = whatsapp.post(form, signature=signature, path=path)
    assert response.status_code == 403
    assert b"<Message>" not in response.data
    # No transcript, no state, no dedupe key, no rate count: not one key was written.
    assert set(store.redis.scan_iter(f"{store.prefix}*")) == before


SHIFTS = {"the sid swallows the media count": ("MessageSid", "NumMedia"),
          "the sender swallows the sid": ("From", "MessageSid")}


@pytest.mark.parametrize("into, moved", SHIFTS.values(), ids=list(SHIFTS))
def test_a_captured_signature_over_text_moved_between_fields_is_refused(whatsapp, store, returning, caplog, into, moved):
    form = whatsapp.form("how much does it cost")
    signature = whatsapp.sign(form)
    assert replies_of(whatsapp.post(form, signature=signature)) == ["Costs vary. Ask the care team for an estimate."]
    replayed = shifted(form, into, moved)
    # The captured signature is valid for the shifted form: only its fields' shapes tell it apart.
    assert RequestValidator(AUTH_TOKEN).validate(PUBLIC_URL + "/whatsapp", replayed, signature)
    before = set(store.redis.scan_iter(f"{store.prefix}*"))
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        response = whatsapp.post(replayed, signature=signature)
        assert response.status_code == 403 and b"<Message>" not in response.data
    # The patient's message is in the transcript once; the replays wrote nothing anywhere.
    assert [(m["role"], m["text"]) for m in store.transcript(PATIENT)] == [
        ("patient", "how much does it cost"), ("assistant", "Costs vary. Ask the care team for an estimate.")]
    assert set(store.redis.scan_iter(f"{store.prefix}*")) == before
    lines = [JsonLines().format(record) for record in caplog.records]
    refusals = [json.loads(line) for line in lines if "fields Twilio never sends" in line]
    assert [entry["field"] for entry in refusals] == [into] * 3
    everything = "\n".join(lines)
    for private in ("how much does it cost", PATIENT, "9812345678"):
        assert private not in everything


def test_the_genuine_request_of_each_forgery_passes(whatsapp):
    """The forgeries above fail for what was changed, not because the helpers sign wrongly."""
    for form in (whatsapp.form("hello"), whatsapp.form("hello", ButtonPayload="2")):
        assert whatsapp.post(form).status_code == 200


def test_behind_a_tls_proxy_the_public_base_url_is_what_is_checked(test_config):
    app = create_app({**test_config, "PUBLIC_BASE_URL": "https://bot.clinic.example/"})
    # Flask sees plain http on an internal host, Twilio signed the public https address.
    sender = WhatsApp(app.test_client(), base_url="http://10.0.0.5:8000")
    form = sender.form("hello")
    assert sender.post(form, signature=sender.sign(form, "https://bot.clinic.example/whatsapp")).status_code == 200
    assert sender.post(form).status_code == 403


def test_a_signature_over_the_public_url_with_or_without_its_port_passes(test_config):
    # Twilio has signed some webhooks with the default port written out and others without it.
    app = create_app({**test_config, "PUBLIC_BASE_URL": "https://bot.clinic.example"})
    sender = WhatsApp(app.test_client(), base_url="http://10.0.0.5:8000")
    for url in ("https://bot.clinic.example/whatsapp", "https://bot.clinic.example:443/whatsapp"):
        form = sender.form("hello")
        assert sender.post(form, signature=sender.sign(form, url)).status_code == 200
    form = sender.form("hello")
    assert sender.post(form, signature=sender.sign(form, "https://bot.clinic.example:8443/whatsapp")).status_code == 403


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


def test_unknown_fields_and_field_names_in_free_text_are_accepted(whatsapp, store):
    # A patient may write anything, Twilio's field names too; fields Twilio adds later are not read.
    body = "what NumMedia1 MessageSidSM0 From"
    replies = whatsapp.send(body, SomeFieldTwilioAddsLater="xMessageSid", ProfileName="Asha NumMedia",
                            ChannelMetadata='{"context": {"From": "x"}}')
    assert [(m["role"], m["text"]) for m in store.transcript(PATIENT)] == [("patient", body), ("assistant", replies[0])]
    assert whatsapp.send("what are the side effects", SomeFieldTwilioAddsLater="x") == [SIDE_EFFECTS]


ODD_MESSAGES = {
    "over Twilio's 1,600 characters": ("x" * 1601, [TOO_LONG.format("112 (emergency) or 108 (ambulance)")]),
    # Devanagari makes the conversation Hindi: the numbers come with Hindi words (the fixture has no Hindi text for it).
    # the fixture's too_long message has no Hindi: the English text keeps the English words around the numbers
    "far over": ("क" * 20_000, [TOO_LONG.format("112 (emergency) or 108 (ambulance)")]),
    "empty": ("", [EMPTY]),
    "blank": (" \n\t ", [EMPTY]),
    "control characters only": ("\x00\x07\x1b\x7f\x08", [EMPTY]),
    "direction marks only": ("\u202e\u200f\u2066", [EMPTY]),
    "emoji only": ("🙏🙏😢", [EMPTY]),
    "control characters around a question": ("\x00what are the\x07 side effects\x1b", [SIDE_EFFECTS]),
    "right-to-left text": ("\u202eما هي الآثار الجانبية؟", [FALLBACK]),
    "XML in the text": ("<Message>quantum physics</Message>]]>&amp;", [FALLBACK]),
}


@pytest.mark.parametrize("name", ODD_MESSAGES)
def test_odd_messages_get_a_sensible_reply_and_are_kept(whatsapp, store, name, returning):
    body, expected = ODD_MESSAGES[name]
    assert whatsapp.send(body) == expected
    assert [(m["role"], m["text"]) for m in store.transcript(PATIENT)] == [("patient", body), ("assistant", expected[0])]


def test_a_huge_media_count_is_tolerated(whatsapp, returning):
    assert whatsapp.send("", NumMedia="99999999999999999999") == [MEDIA]


def test_invalid_utf8_in_the_form_encoding_gets_a_reply(whatsapp, store, returning):
    """Percent-encoded bytes that are not UTF-8 reach the app as text it can read, not as an error."""
    raw = (f"From={quote(PATIENT)}&MessageSid=SM{uuid.uuid4().hex}&Body=%FF%FE%C3what%20are%20the%20side%20effects"
           f"&AccountSid={ACCOUNT_SID}").encode()
    form = dict(parse_qsl(raw.decode(), keep_blank_values=True, errors="werkzeug.url_quote"))
    response = whatsapp.client.post("/whatsapp", data=raw, content_type="application/x-www-form-urlencoded",
                                    headers={"X-Twilio-Signature": whatsapp.sign(form)}, base_url=whatsapp.base_url)
    assert response.status_code == 200
    assert replies_of(response) == [SIDE_EFFECTS]
    assert store.transcript(PATIENT)[0]["text"] == "%FF%FE%C3what are the side effects"


def test_a_body_that_is_not_form_encoding_is_no_error_and_stores_nothing(whatsapp, store):
    garbage = b"\xff\xfe\x00garbage"
    post = lambda headers: whatsapp.client.post(  # noqa: E731
        "/whatsapp", data=garbage, content_type="application/x-www-form-urlencoded", headers=headers,
        base_url=whatsapp.base_url)
    before = set(store.redis.scan_iter(f"{store.prefix}*"))  # what the app keeps from start-up
    assert post({}).status_code == 403
    # Even signed, no message came: no sid, no sender.
    assert post({"X-Twilio-Signature": whatsapp.sign({})}).status_code == 403
    assert set(store.redis.scan_iter(f"{store.prefix}*")) == before


def test_a_retried_message_is_answered_once_and_recorded_once(whatsapp, store, returning):
    form = whatsapp.form("how much does it cost")
    first, retry = whatsapp.post(form), whatsapp.post(form)
    assert replies_of(first) == ["Costs vary. Ask the care team for an estimate."]
    assert retry.status_code == 200 and replies_of(retry) == [] and b"<Response />" in retry.data
    assert [m["role"] for m in store.transcript(PATIENT)] == ["patient", "assistant"]


def test_a_message_without_a_sid_is_never_recorded_whatever_its_headers(whatsapp, store, returning):
    form = whatsapp.form("how much does it cost", MessageSid=None, SmsMessageSid=None)
    # The header is not signed: anyone replaying the form could choose it.
    for token in ("5e4d7f0a-0000-4000-8000-000000000001", "5e4d7f0a-0000-4000-8000-000000000002"):
        assert whatsapp.post(form, headers={"I-Twilio-Idempotency-Token": token}).status_code == 403
    assert store.transcript(PATIENT) == []


def test_a_flood_of_300_messages_keeps_every_one_in_the_transcript(whatsapp, store, returning):
    texts = [f"how much does it cost, question {n}" for n in range(300)]
    replies = [whatsapp.send(text) for text in texts]
    # RATE_LIMIT (20 a minute) are answered, the next gets one notice, the rest silence until the minute is over.
    assert all(replies[:20])
    assert replies[20] == [f"Too many messages; I will pause for a while. {SOS}"]
    assert replies[21:] == [[]] * 279
    transcript = store.transcript(PATIENT)
    assert [m["text"] for m in transcript if m["role"] == "patient"] == texts
    # Every reply the patient got is there too, and a note says from where the assistant stopped answering.
    assert [m["text"] for m in transcript if m["role"] == "assistant"] == [r[0] for r in replies[:21]]
    assert [m.get("event") for m in transcript if m["role"] == "event"] == ["rate_limited"]


def test_a_voice_note_without_text_gets_the_media_reply(whatsapp, returning):
    whatsapp.send("hello")
    replies = whatsapp.send("", NumMedia="1", MediaContentType0="audio/ogg", MediaUrl0="https://api.twilio.com/x")
    assert replies == [MEDIA]


def test_without_auth_token_the_app_refuses_to_start(test_config):
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        create_app({**test_config, "TWILIO_AUTH_TOKEN": ""})
    with pytest.raises(ConfigError, match="SKIP_SIGNATURE_CHECK is for development only"):
        create_app({**test_config, "TWILIO_AUTH_TOKEN": "", "SKIP_SIGNATURE_CHECK": True})
    # Local development may turn the check off explicitly, and then unsigned requests pass.
    app = create_app({**test_config, "ENVIRONMENT": "development", "TWILIO_AUTH_TOKEN": "", "SKIP_SIGNATURE_CHECK": True})
    sender = WhatsApp(app.test_client())
    assert sender.post(sender.form("hello"), signature="").status_code == 200


def test_the_wsgi_entry_point_names_the_missing_variable(test_config):
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "SKIP_SIGNATURE_CHECK")}
    env.update(REDIS_URL=test_config["REDIS_URL"], KNOWLEDGE_PATH=test_config["KNOWLEDGE_PATH"])
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr


def test_an_internal_failure_gets_an_apology_not_a_500(app, whatsapp, store, returning):
    store.redis.set(store.key("state", PATIENT), "{not json")
    response = whatsapp.post(whatsapp.form("hello"))
    assert response.status_code == 200
    assert replies_of(response) == ["Sorry, I cannot answer right now. In an emergency call 112 (emergency) or 108 (ambulance)."]


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
    assert whatsapp.send("what is the capital of peru") == [f"Shall I ask a coordinator? Reply YES. {SOS}"]
    assert whatsapp.send("haan") == ["A coordinator will reply soon. Reply CANCEL to go back."]
    assert store.waiting()[0]["reason"] == "offer"


def test_an_emergency_through_the_webhook_in_every_state(app, whatsapp, store):
    handoff = app.extensions["assistant"].handoff
    emergency = [EMERGENCY]
    assert whatsapp.send("chest pain now") == emergency  # with the assistant
    assert store.waiting()[0]["urgent"]
    # Waiting, right after the emergency reply: what to do while help comes, not the same text again.
    assert whatsapp.send("i cannot breathe") == ["While you wait: call 112 (emergency) or 108 (ambulance) if you have not. "
                                                 "A coordinator will write soon."]
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
    assert conversation_of(store, PATIENT).opted_out
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
    assert conversation_of(store, PATIENT).opted_out


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
    opens = app.extensions["assistant"].handoff.hours.opening_text(time.time())
    [reply] = WhatsApp(app.test_client()).send("agent")
    # The welcome of the first contact goes after the answer.
    assert reply == f"Coordinators reply from {opens}. Reply CANCEL to go back. {SOS}\n\n{WELCOME}"
    assert opens.endswith(" IST")


# Fields the examples set themselves, or whose shape the webhook checks: the others are Twilio's future fields.
OUR_FIELDS = {"From", "Body", "MessageSid"} | webhook.FIELDS
form_fields = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in OUR_FIELDS), st.text(max_size=40), max_size=6)
ADDRESS = re.compile(r"(whatsapp:)?\+[0-9]{1,15}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sender=st.one_of(st.from_regex(ADDRESS, fullmatch=True), st.text(max_size=30)), body=st.text(max_size=1700),
       fields=form_fields, with_sid=st.booleans())
def test_any_signed_form_is_answered_and_kept_exactly_once_or_refused(whatsapp, store, sender, body, fields, with_sid):
    """Whatever Twilio's signed form holds: never a 500. With a MessageSid and a WhatsApp or phone sender,
    valid TwiML and the message in that sender's transcript once (the sid is new for each example, as
    Twilio's are); without them, 403 and nothing kept."""
    form = {**fields, "From": sender, "Body": body}
    message_id = f"SM{uuid.uuid4().hex}"
    if with_sid:
        form["MessageSid"] = message_id
    before = set(store.redis.scan_iter(f"{store.prefix}*"))
    response = whatsapp.post(form)

    if not (with_sid and ADDRESS.fullmatch(sender)):
        assert response.status_code == 403
        assert set(store.redis.scan_iter(f"{store.prefix}*")) == before
        return
    assert response.status_code == 200
    replies_of(response)
    mine = [m for m in store.transcript(sender) if m.get("sid") == message_id]
    assert [(m["role"], m["text"]) for m in mine] == [("patient", body)]
    # Answered by the assistant, not by the apology for an internal failure.
    assert mine[0].get("unanswered") in (None, "rate_limited")
