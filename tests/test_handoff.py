"""Handing a chat to a coordinator and back, through Assistant.respond and the handoff's own moves.

The patient's side is driven through the assistant; the coordinators' moves through bot.handoff (the
console's HTTP is tested in test_console.py). What goes out is what the local Twilio stand-in received.
"""

import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import pytest

from bot import consultations, create_app
from bot.hours import DAYS
from bot.inbound import Inbound
from tests.conftest import CLINIC_NUMBER, ON_DUTY, WhatsApp, queue_chat, saw_the_welcome

SENDER = "whatsapp:+919800000001"
OTHER = "whatsapp:+919800000002"
TEMPLATE = "HX" + "b" * 32
WAITING = "A coordinator will take over. Reply CANCEL to go back."
RETURNED = "You are back with the assistant."
# Every reply that is not an answer ends with the emergency numbers (the EMERGENCY_NUMBERS settings, by default).
SOS = "In an emergency call 112 (emergency) or 108 (ambulance)."
OFFER = f"Shall I ask a coordinator? Reply YES. {SOS}"
# The emergency reply ends with when a person will write: soon in office hours (not set in the tests: always open).
EMERGENCY = "Call 112 (emergency) or 108 (ambulance) now. A coordinator will write soon."


@pytest.fixture
def assistant(app):
    assistant = app.extensions["assistant"]
    # Both patients have chatted before: the first-contact welcome is not part of these flows.
    for sender in (SENDER, OTHER):
        saw_the_welcome(assistant.store, sender, assistant.knowledge_file.current().notice_version)
    return assistant


@pytest.fixture
def handoff(assistant):
    return assistant.handoff


def say(assistant, text, sender=SENDER, **fields):
    return assistant.respond(Inbound(sender=sender, body=text, profile_name="Asha", **fields))


def run_jobs(app, now=None):
    """One round of the background worker: send what is due."""
    app.extensions["worker"].run_once(now)


def bodies_to(twilio_api, to):
    return [m.get("Body") for m in twilio_api.messages if m["To"] == to]


def closed_hours():
    """Office hours on one weekday only, three days from today, so the office is closed now."""
    today = datetime.now(ZoneInfo("Asia/Kolkata")).weekday()
    return f"{DAYS[(today + 3) % 7].title()} 09:00-18:00"


def test_asking_for_a_person_queues_the_chat_and_alerts_the_on_duty_numbers(app, assistant, store, twilio_api):
    assert say(assistant, "talk to a person") == [WAITING]
    [chat] = store.waiting()
    assert (chat["sender"], chat["reason"], chat["profile"], chat["urgent"]) == (SENDER, "asked", "Asha", False)
    assert twilio_api.messages == []  # the webhook's answer never waits for the alerts
    run_jobs(app)
    alerts = {m["To"]: m for m in twilio_api.messages}
    assert set(alerts) == set(ON_DUTY)
    assert alerts["+919000000002"]["From"] == "+14155238886"  # SMS goes from the bare number
    assert alerts["whatsapp:+919000000001"]["From"] == CLINIC_NUMBER
    assert alerts["+919000000002"]["Body"].startswith("Waiting whatsapp:+*********001")
    assert "9800000001" not in alerts["+919000000002"]["Body"]


def test_while_waiting_the_assistant_is_silent_and_keeps_the_message(assistant, store):
    say(assistant, "agent")
    assert say(assistant, "what are the side effects") == []
    assert say(assistant, "hello") == []
    last = store.transcript(SENDER)[-1]
    assert (last["role"], last["text"]) == ("patient", "hello")


def test_the_patient_can_cancel_the_wait(assistant, store):
    say(assistant, "agent")
    assert say(assistant, "Back to bot!") == ["No coordinator will take over. You are back with the assistant."]
    assert store.chat(SENDER) is None and store.waiting() == []
    assert say(assistant, "how much does it cost") == ["Costs vary. Ask the care team for an estimate."]


def test_cancel_with_a_coordinator_goes_to_the_coordinator(assistant, handoff, store):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya Sharma")
    assert say(assistant, "cancel") == []
    assert store.chat(SENDER)["status"] == "claimed"


def test_two_misses_in_a_row_offer_a_person_and_yes_takes_it(assistant, store):
    assert say(assistant, "who won the cricket match yesterday")[0].startswith("Sorry, I did not understand.")
    assert say(assistant, "quantum physics homework") == [OFFER]
    assert say(assistant, "Yes") == ["A coordinator will reply soon. Reply CANCEL to go back."]
    [chat] = store.waiting()
    assert chat["reason"] == "offer"


def test_misses_count_only_in_a_row_and_the_offer_is_answered_once(assistant, store):
    say(assistant, "who won the cricket match yesterday")
    say(assistant, "how much does it cost")
    assert say(assistant, "quantum physics homework")[0].startswith("Sorry, I did not understand.")
    assert say(assistant, "what is the capital of peru") == [OFFER]
    # Another question instead of YES is answered; a later YES no longer escalates.
    assert say(assistant, "how much does it cost") == ["Costs vary. Ask the care team for an estimate."]
    assert say(assistant, "yes")[0].startswith("Sorry, I did not understand.")
    assert store.waiting() == []


def test_an_emergency_gets_the_instructions_and_goes_to_the_top_of_the_queue(app, assistant, store, twilio_api):
    say(assistant, "agent", sender=OTHER)
    run_jobs(app)
    twilio_api.messages.clear()
    assert say(assistant, "i cannot breathe") == [EMERGENCY]
    first, second = store.waiting()
    assert (first["sender"], first["urgent"], first["reason"]) == (SENDER, True, "emergency")
    assert second["sender"] == OTHER
    run_jobs(app)
    assert sorted(m["To"] for m in twilio_api.messages) == sorted(ON_DUTY)
    assert all(m["Body"].startswith("URGENT whatsapp:+*********001") for m in twilio_api.messages)


@pytest.mark.parametrize("failure", ["busy", "broken"])
def test_an_emergency_that_could_not_be_answered_still_goes_urgent_to_the_queue(make_app, twilio_api, failure):
    app = make_app(LOCK_WAIT=0.2)
    store = app.extensions["assistant"].store
    whatsapp = WhatsApp(app.test_client(), sender=SENDER)
    if failure == "busy":
        # The patient's previous message is still being answered: this one waits for its turn, then gives up.
        with store.lock(SENDER, "SMheld"):
            response = whatsapp.send("i cannot breathe")
    else:
        # Something kept about the patient cannot be read: answering fails.
        store.redis.set(store.key("state", SENDER), "{broken")
        response = whatsapp.send("i cannot breathe")
    assert "112" in response[0]  # the apology carries the emergency numbers
    [chat] = store.waiting()
    assert (chat["sender"], chat["urgent"], chat["reason"]) == (SENDER, True, "emergency")
    run_jobs(app)
    assert sorted(m["To"] for m in twilio_api.messages) == sorted(ON_DUTY)
    assert all(m["Body"].startswith("URGENT whatsapp:+*********001") for m in twilio_api.messages)


def test_a_calm_message_that_could_not_be_answered_queues_nothing(make_app, twilio_api):
    app = make_app(LOCK_WAIT=0.2)
    store = app.extensions["assistant"].store
    with store.lock(SENDER, "SMheld"):
        WhatsApp(app.test_client(), sender=SENDER).send("how much does it cost")
    assert store.waiting() == []


def test_an_emergency_while_waiting_raises_the_chat_to_urgent(app, assistant, store, twilio_api):
    say(assistant, "agent", sender=OTHER)
    say(assistant, "agent")
    assert [c["sender"] for c in store.waiting()] == [OTHER, SENDER]
    assert say(assistant, "chest pain now") == [EMERGENCY]
    assert [(c["sender"], c["urgent"]) for c in store.waiting()] == [(SENDER, True), (OTHER, False)]


def test_an_emergency_with_a_coordinator_is_answered_and_marked_urgent(app, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    assert say(assistant, "chest pain now") == [EMERGENCY]
    chat = store.chat(SENDER)
    assert (chat["status"], chat["coordinator"], chat["urgent"]) == ("claimed", "Priya", True)
    run_jobs(app)
    assert any(m["Body"].startswith("URGENT") for m in twilio_api.messages if m["To"] in ON_DUTY)


def test_outside_office_hours_the_patient_is_told_when_and_only_emergencies_alert(test_config, twilio_api):
    app = create_app({**test_config, "OFFICE_HOURS": closed_hours()})
    assistant, store = app.extensions["assistant"], app.extensions["assistant"].store
    for sender in (SENDER, OTHER):
        saw_the_welcome(store, sender, assistant.knowledge_file.current().notice_version)
    hours = assistant.handoff.hours
    opens = hours.next_opening(time.time())
    [reply] = say(assistant, "agent")
    assert reply == f"Coordinators reply from {hours.opening_text(time.time())}. Reply CANCEL to go back. {SOS}"
    assert f"{opens:%A} {opens.day} {opens:%B}, 09:00 IST" in reply
    run_jobs(app)
    assert twilio_api.messages == []
    # An emergency alerts at any hour.
    # Outside office hours the emergency reply says by when a coordinator will write.
    assert say(assistant, "i cannot breathe", sender=OTHER) == [
        f"Call 112 (emergency) or 108 (ambulance) now. A coordinator will write by {hours.opening_text(time.time())}."]
    run_jobs(app)
    assert {m["To"] for m in twilio_api.messages} == set(ON_DUTY)
    twilio_api.messages.clear()
    # When the office opens, the chat that waited overnight alerts.
    assistant.handoff.sweep(opens.timestamp() + 60)
    run_jobs(app)
    assert len(twilio_api.messages) == 2 * len(ON_DUTY)
    assert {m["Body"].split(" min")[0].rsplit(" ", 1)[0] for m in twilio_api.messages} == {
        "Still waiting whatsapp:+*********001", "Still waiting whatsapp:+*********002"}


def test_claiming_tells_the_patient_the_coordinators_first_name(app, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    assert handoff.claim(SENDER, "Priya Sharma")
    assert not handoff.claim(SENDER, "Ravi")  # already taken
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER) == ["You are chatting with Priya."]
    assert store.chat(SENDER)["coordinator"] == "Priya Sharma"
    assert say(assistant, "how much does it cost") == []  # the coordinator answers now


def test_a_chat_given_to_a_colleague_tells_the_patient_only_the_new_first_name(app, assistant, handoff, store, twilio_api):
    for name in ("Priya Sharma", "Olga Menon", "Ravi Kumar"):
        store.add_coordinator(name, "hash")
    say(assistant, "agent")
    assert handoff.assign(SENDER, "Priya Sharma", "olga menon") == ("assigned", "Olga Menon")
    assert handoff.assign(SENDER, "Ravi Kumar", "Priya Sharma", transfer=True) == ("not_yours", "Olga Menon")
    assert handoff.assign(SENDER, "Olga Menon", "Ravi Kumar", transfer=True) == ("transferred", "Ravi Kumar")
    run_jobs(app)
    # As a claim does: the first name of whoever has the chat now, and nothing of who gave it to them.
    assert bodies_to(twilio_api, SENDER) == ["You are chatting with Olga.", "You are chatting with Ravi."]
    events = [(e["event"], e.get("by"), e.get("to")) for e in store.transcript(SENDER) if e["role"] == "event"]
    assert events == [("waiting", None, None), ("assigned", "Priya Sharma", "Olga Menon"),
                      ("transferred", "Olga Menon", "Ravi Kumar")]
    assert say(assistant, "are you there?") == [] and store.chat(SENDER)["coordinator"] == "Ravi Kumar"


def test_a_coordinators_reply_goes_out_with_the_right_addresses(app, assistant, handoff, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    assert handoff.reply(SENDER, "Priya", "Namaste Asha, I am looking at your question.") == "queued"
    run_jobs(app)
    [reply] = [m for m in twilio_api.messages if m.get("Body", "").startswith("Namaste")]
    assert (reply["To"], reply["From"]) == (SENDER, CLINIC_NUMBER)
    entry = [e for e in handoff.store.transcript(SENDER) if e["role"] == "coordinator"][0]
    assert (entry["by"], entry["text"]) == ("Priya", "Namaste Asha, I am looking at your question.")
    assert handoff.store.deliveries(SENDER)[entry["ref"]] == "queued"


def test_handing_back_tells_the_patient_and_the_assistant_answers_again(app, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    assert handoff.hand_back(SENDER, "Priya")
    assert not handoff.hand_back(SENDER, "Priya")  # only once
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[-1] == RETURNED
    assert store.claimed() == [] and store.chat(SENDER) is None
    assert say(assistant, "how much does it cost") == ["Costs vary. Ask the care team for an estimate."]


def test_closing_records_the_outcome(app, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    assert handoff.hand_back(SENDER, "Priya", outcome="call_booked", event="closed")
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[-1] == RETURNED
    assert store.redis.hget(f"{store.prefix}outcomes", "call_booked") == "1"
    event = store.transcript(SENDER)[-2]
    assert (event["event"], event["outcome"], event["by"]) == ("closed", "call_booked", "Priya")


def test_an_idle_chat_returns_to_the_assistant_by_itself(app, test_config, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    idle = handoff.settings.HANDBACK_AFTER_MINUTES * 60
    handoff.sweep(time.time() + idle - 60)
    assert store.chat(SENDER)["status"] == "claimed"
    handoff.sweep(time.time() + idle + 1)
    assert store.chat(SENDER) is None
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[-1] == RETURNED
    assert store.transcript(SENDER)[-2]["event"] == "inactive"


def test_a_patient_message_keeps_the_chat_with_the_coordinator(assistant, handoff, store):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya", )
    idle = handoff.settings.HANDBACK_AFTER_MINUTES * 60
    store.touch(SENDER, time.time() + idle)  # the patient wrote much later
    handoff.sweep(time.time() + idle + 60)
    assert store.chat(SENDER)["status"] == "claimed"


def test_an_unclaimed_chat_alerts_again(app, assistant, handoff, twilio_api):
    say(assistant, "agent")
    run_jobs(app)
    twilio_api.messages.clear()
    again = handoff.settings.ALERT_AGAIN_MINUTES * 60
    handoff.sweep(time.time() + again - 30)
    run_jobs(app)
    assert twilio_api.messages == []
    handoff.sweep(time.time() + again + 1)
    run_jobs(app)
    assert {m["To"] for m in twilio_api.messages} == set(ON_DUTY)
    assert twilio_api.messages[0]["Body"] == f"Still waiting whatsapp:+*********001 {again // 60} min /console/"


def test_a_chat_raised_to_urgent_alerts_then_and_reminds_from_then(app, assistant, handoff, store, twilio_api):
    say(assistant, "agent")
    later = time.time() + 20 * 60
    with store.lock(SENDER) as lock:
        handoff.escalate(Inbound(sender=SENDER, body="chest pain now"), lock.conversation, "emergency", urgent=True, now=later)
    handoff.turn_ended(SENDER, lock.conversation)
    run_jobs(app, later)
    assert {m["Body"].split(" ")[0] for m in twilio_api.messages[-len(ON_DUTY):]} == {"URGENT"}
    twilio_api.messages.clear()
    # Twenty minutes after the first alert, but not yet ALERT_AGAIN_MINUTES after the urgent one.
    again = handoff.settings.ALERT_AGAIN_MINUTES * 60
    handoff.sweep(later + again - 30)
    run_jobs(app, later + again - 30)
    assert twilio_api.messages == []
    handoff.sweep(later + again + 1)
    run_jobs(app, later + again + 1)
    assert {m["To"] for m in twilio_api.messages} == set(ON_DUTY)


@pytest.fixture
def templated(test_config):
    app = create_app({**test_config, "WINDOW_TEMPLATE_SID": TEMPLATE, "WINDOW_TEMPLATE_VARIABLES": '{"1": "{coordinator}", "2": "{patient}"}'})
    return app, app.extensions["assistant"]


def test_after_24_hours_the_text_is_held_and_the_template_sent(templated, twilio_api):
    app, assistant = templated
    handoff = assistant.handoff
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya Sharma")
    run_jobs(app)
    twilio_api.messages.clear()
    a_day_later = time.time() + 25 * 3600
    assert handoff.reply(SENDER, "Priya Sharma", "Are you feeling better today?", now=a_day_later) == "held"
    assert handoff.reply(SENDER, "Priya Sharma", "I can call you at 5.", now=a_day_later) == "held"
    run_jobs(app)
    [template] = twilio_api.messages  # one template, however many texts wait
    assert (template["To"], template["ContentSid"], template["ContentVariables"]) == (
        SENDER, TEMPLATE, '{"1": "Priya", "2": "Asha"}')
    assert "Body" not in template
    assert handoff.store.held(SENDER)[0]["text"] == "Are you feeling better today?"
    # The patient answers: the held texts go out, in order, and the assistant stays silent.
    assert say(assistant, "yes I am here") == []
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[1:] == ["Are you feeling better today?", "I can call you at 5."]
    assert handoff.store.held(SENDER) == []


def test_twilio_refusing_a_reply_with_63016_holds_it(templated, twilio_api):
    app, assistant = templated
    handoff = assistant.handoff
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    run_jobs(app)
    twilio_api.messages.clear()
    twilio_api.refuse(63016, message="Failed to send freeform message because you are outside the allowed window.")
    handoff.reply(SENDER, "Priya", "Hello again")
    run_jobs(app)  # refused: held
    run_jobs(app)  # the template
    [entry] = handoff.store.held(SENDER)
    assert entry["text"] == "Hello again"
    assert [m["ContentSid"] for m in twilio_api.messages] == [TEMPLATE]
    ref = [e for e in handoff.store.transcript(SENDER) if e["role"] == "coordinator"][0]["ref"]
    assert handoff.store.deliveries(SENDER)[ref] == "held"


def test_twilio_failures_are_retried_with_growing_delays_then_kept_visible(app, handoff, twilio_api):
    jobs = handoff.jobs
    twilio_api.refuse(20500, status=500, message="Internal Server Error", times=100)
    for number in ON_DUTY:
        jobs.add({"kind": "alert", "to": number, "body": "A patient is waiting"})
    now = time.time()
    delays = []
    for _ in range(jobs.attempts + 1):
        run_jobs(app, now)
        due = jobs.redis.zrange(jobs.due_key, 0, -1, withscores=True)
        if not due:
            break
        delays.append(round(min(score for _, score in due) - now))
        now = min(score for _, score in due) + 0.001
    assert delays == [10 * 2 ** n for n in range(jobs.attempts - 1)]
    assert jobs.pending() == 0
    failures = jobs.failures()
    assert len(failures) == len(ON_DUTY)
    assert {f["to"] for f in failures} == {"whatsapp:+*********001", "+*********002"}
    assert all("20500" in f["error"] and f["kind"] == "alert" for f in failures)


def test_an_opted_out_patient_is_not_retried(app, assistant, handoff, twilio_api):
    say(assistant, "agent")
    handoff.claim(SENDER, "Priya")
    run_jobs(app)
    twilio_api.refuse(21610, message="Attempt to send to unsubscribed recipient")
    handoff.reply(SENDER, "Priya", "Hello")
    run_jobs(app)
    assert handoff.jobs.pending() == 0
    ref = [e for e in handoff.store.transcript(SENDER) if e["role"] == "coordinator"][0]["ref"]
    assert handoff.store.deliveries(SENDER)[ref] == "failed 21610"


def test_a_job_is_handed_to_one_worker_until_its_lease_ends(handoff):
    jobs = handoff.jobs
    job_id = jobs.add({"kind": "alert", "to": ON_DUTY[0], "body": "A patient is waiting"})
    now = time.time()
    assert [pair[0] for pair in jobs.due(now)] == [job_id]
    assert jobs.due(now) == []  # another worker, at the same moment
    # A worker that died mid-send leaves the job to be sent again after the lease.
    assert [pair[0] for pair in jobs.due(now + jobs.lease + 1)] == [job_id]
    jobs.done(job_id)
    assert jobs.due(now + 10 * jobs.lease) == [] and jobs.pending() == 0


def test_the_worker_sleeps_on_redis_longer_than_the_apps_short_timeout_and_wakes_for_a_new_job(handoff):
    """REDIS_TIMEOUT is a fraction of a second; the worker's wait for new jobs must neither fail nor sleep through one."""
    import threading

    jobs = handoff.jobs
    jobs.wait(0.5)  # no TimeoutError from the short timeout of the app's own connections
    threading.Timer(0.2, lambda: jobs.add({"kind": "alert", "to": "+919000000009", "body": "x"})).start()
    started = time.monotonic()
    jobs.wait(30)
    assert time.monotonic() - started < 10  # woken by the new job, not by the end of the wait


# A consultation request (bot/booking.py's form) booked by a coordinator.
FORM = {"for_whom": "relative", "name": "Ramesh Kumar", "age": 54, "city": "Pune", "cancer": "", "reports": True,
        "day": "Monday", "time": "morning", "call": "video", "reference": "FC-7K2Q", "lang": "en"}


def consultation(handoff, lang="en", wrote=True):
    """A consultation request claimed by Priya; `wrote`: the patient's last message is recent (the window is open)."""
    if wrote:
        handoff.store.append(SENDER, "patient", "YES")
    queue_chat(handoff.store, SENDER, "consultation", form={**FORM, "lang": lang}, profile="Asha")
    assert handoff.claim(SENDER, "Priya Sharma")


def clinic_time(handoff, days, hour=11, minute=30):
    """`days` from today at hour:minute, clinic time."""
    today = datetime.now(handoff.hours.zone).date()
    return datetime.combine(today + timedelta(days=days), dt_time(hour, minute), tzinfo=handoff.hours.zone)


def wrote_at(store, at, text="ok"):
    """The patient's message as the transcript keeps it, written at `at` (a moment the test's worker is driven to)."""
    store.append(SENDER, "patient", text, at=at)


def test_the_consultations_time_reads_in_the_patients_language():
    friday = datetime(2030, 1, 4, 11, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert consultations.when_text(friday, "en") == "Friday 4 January 2030, 11:30"
    assert consultations.when_text(friday, "hi") == "शुक्रवार 4 जनवरी 2030, 11:30"
    assert consultations.reminder_due(friday, friday.timestamp() - 86400 * 3) == friday.timestamp() - 86400 - 5400
    assert consultations.reminder_due(friday, friday.timestamp() - 3600) == friday.timestamp() - 3600  # at once
    assert consultations.reminder_due(friday, friday.timestamp() + 1) is None


@pytest.mark.parametrize("lang, expected", [
    ("en", "Booked for {when} (Video call), ref FC-7K2Q. In an emergency call 112 (emergency) or 108 (ambulance)."),
    ("hi", "{when} (वीडियो कॉल) के लिए बुक, रेफ़रेंस FC-7K2Q। इमरजेंसी में 112 (इमरजेंसी) या 108 (एम्बुलेंस) पर फ़ोन करें।")])
def test_booking_a_consultation_confirms_it_in_the_patients_language(app, handoff, store, twilio_api, lang, expected):
    consultation(handoff, lang)
    run_jobs(app)
    twilio_api.messages.clear()
    when = clinic_time(handoff, 3)
    assert handoff.book(SENDER, "Priya Sharma", when) == "queued"
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER) == [expected.format(when=consultations.when_text(when, lang))]
    chat = store.chat(SENDER)
    assert (chat["booked_at"], chat["booked_by"]) == (when.timestamp(), "Priya Sharma")
    event = [e for e in store.transcript(SENDER) if e["role"] == "event"][-1]
    assert (event["event"], event["by"], event["when"]) == ("booked", "Priya Sharma", when.timestamp())
    assert [e for e in store.transcript(SENDER) if e["role"] == "coordinator"][-1]["text"] == bodies_to(twilio_api, SENDER)[0]


def test_a_booking_outside_the_window_is_held_behind_the_template(templated, twilio_api):
    app, assistant = templated
    handoff = assistant.handoff
    consultation(handoff)
    run_jobs(app)
    twilio_api.messages.clear()
    a_day_later = time.time() + 25 * 3600
    when = clinic_time(handoff, 4)
    assert handoff.book(SENDER, "Priya Sharma", when, now=a_day_later) == "held"
    run_jobs(app)
    [template] = twilio_api.messages
    assert (template["ContentSid"], "Body" in template) == (TEMPLATE, False)
    assert say(assistant, "hello?") == []
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[1:] == [
        f"Booked for {consultations.when_text(when, 'en')} (Video call), ref FC-7K2Q. "
        "In an emergency call 112 (emergency) or 108 (ambulance)."]


def test_the_reminder_goes_the_day_before_at_ten_and_once(app, handoff, store, twilio_api):
    consultation(handoff)
    when = clinic_time(handoff, 5)
    handoff.book(SENDER, "Priya Sharma", when)
    run_jobs(app)
    handoff.hand_back(SENDER, "Priya Sharma", outcome="call_booked", event="closed")
    run_jobs(app)
    twilio_api.messages.clear()
    due = clinic_time(handoff, 4, 10, 0).timestamp()
    wrote_at(store, due - 3600)  # the patient wrote that morning: WhatsApp's window is open
    run_jobs(app, due - 60)
    assert twilio_api.messages == []
    run_jobs(app, due + 1)  # the reminder comes due and becomes a notice
    run_jobs(app, due + 2)
    reminder = f"Reminder: tomorrow, {consultations.when_text(when, 'en')} (Video call), ref FC-7K2Q."
    assert bodies_to(twilio_api, SENDER) == [reminder]
    assert store.transcript(SENDER)[-1]["text"] == reminder
    run_jobs(app, due + 3600)
    run_jobs(app, when.timestamp() + 3600)
    assert bodies_to(twilio_api, SENDER) == [reminder] and handoff.jobs.pending() == 0


def test_a_reminder_past_the_window_sends_the_template_and_goes_when_the_patient_writes(templated, twilio_api):
    app, assistant = templated
    handoff = assistant.handoff
    consultation(handoff)
    when = clinic_time(handoff, 5)
    handoff.book(SENDER, "Priya Sharma", when)
    handoff.hand_back(SENDER, "Priya Sharma", outcome="call_booked", event="closed")
    run_jobs(app)
    twilio_api.messages.clear()
    due = clinic_time(handoff, 4, 10, 0).timestamp()
    run_jobs(app, due + 1)
    run_jobs(app, due + 2)
    [template] = twilio_api.messages
    assert template["ContentSid"] == TEMPLATE
    # The patient answers the template: the assistant answers them, and the reminder goes out, once.
    assert say(assistant, "how much does it cost")[0].startswith("Costs vary.")
    run_jobs(app)
    say(assistant, "thanks")
    run_jobs(app)
    assert bodies_to(twilio_api, SENDER)[1:] == [
        f"Reminder: tomorrow, {consultations.when_text(when, 'en')} (Video call), ref FC-7K2Q."]


def test_booking_again_moves_the_reminder(app, handoff, store, twilio_api):
    consultation(handoff)
    first, second = clinic_time(handoff, 5), clinic_time(handoff, 8, 16, 0)
    run_jobs(app)
    twilio_api.messages.clear()
    handoff.book(SENDER, "Priya Sharma", first)
    handoff.book(SENDER, "Priya Sharma", second)
    assert store.chat(SENDER)["booked_at"] == second.timestamp()
    run_jobs(app)
    assert len(bodies_to(twilio_api, SENDER)) == 2  # both confirmations
    twilio_api.messages.clear()
    for days in (4, 7):
        due = clinic_time(handoff, days, 10, 0).timestamp()
        wrote_at(store, due - 3600)
        run_jobs(app, due + 1)
        run_jobs(app, due + 2)
    # (Meanwhile the idle chat went back to the assistant, which told the patient.)
    assert [body for body in bodies_to(twilio_api, SENDER) if body.startswith("Reminder")] == [
        f"Reminder: tomorrow, {consultations.when_text(second, 'en')} (Video call), ref FC-7K2Q."]


def test_delete_my_data_drops_the_reminder_and_every_message_still_to_go(app, assistant, handoff, store, twilio_api):
    consultation(handoff)
    when = clinic_time(handoff, 5)
    handoff.book(SENDER, "Priya Sharma", when)
    handoff.hand_back(SENDER, "Priya Sharma", outcome="call_booked", event="closed")
    other = handoff.jobs.add({"kind": "alert", "to": ON_DUTY[0], "body": "A patient is waiting"})
    say(assistant, "delete my data")
    say(assistant, "yes")
    data = store.redis.hgetall(handoff.jobs.data_key)
    assert list(data) == [other] and SENDER[-10:] not in str(data)
    twilio_api.messages.clear()
    run_jobs(app, clinic_time(handoff, 4, 10, 0).timestamp() + 1)
    assert bodies_to(twilio_api, SENDER) == []
