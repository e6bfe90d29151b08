"""Booking the free consultation as a conversation: one short question at a time, any answer corrected or skipped
where optional, a summary to confirm, then a consultation request in the coordinators' queue with its form."""

import re
import secrets
import time
from dataclasses import dataclass

from bot import pending
from bot.replies import Answer
from bot.spelling import normalise

BOOKING = "human_handoff.booking"
# After this long without a reply, an answer that does not fit is met with "let's continue", not "sorry".
PAUSE_SECONDS = 3600
# A text answer (a name, a city, a day) of this many words that reads as a topic is a question, not the answer.
QUESTION_WORDS = 4
_NUMBER = re.compile(r"\b(\d{1,3})\b")
# Letters of a reference a patient can read out on the phone: no 0/O, 1/I.
_REFERENCE = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Field:
    """One question of the booking: its message, how its answer is read, and the words that name it ("change the day")."""

    name: str
    message: str
    kind: str  # choice, text, age, optional (SKIP leaves it empty), yes_no
    names: tuple
    options: tuple = ()  # (value, the message of its title)


FIELDS = (
    Field("for_whom", "booking_for_whom", "choice", ("whom", "who", "relative", "kiske", "किसके"),
          (("self", "booking_self"), ("relative", "booking_relative"))),
    Field("name", "booking_name", "text", ("name", "naam", "नाम")),
    Field("age", "booking_age", "age", ("age", "umar", "umr", "उम्र")),
    Field("city", "booking_city", "text", ("city", "town", "shahar", "sheher", "शहर")),
    Field("cancer", "booking_cancer", "optional", ("cancer", "stage", "कैंसर")),
    Field("reports", "booking_reports", "yes_no", ("report", "reports", "scan", "scans", "रिपोर्ट")),
    Field("day", "booking_day", "text", ("day", "date", "din", "tarikh", "दिन", "तारीख")),
    Field("time", "booking_time", "choice", ("time", "samay", "waqt", "समय"),
          (("morning", "booking_morning"), ("afternoon", "booking_afternoon"), ("evening", "booking_evening"))),
    Field("call", "booking_call", "choice", ("call", "video", "phone", "कॉल"),
          (("phone", "booking_phone"), ("video", "booking_video"))),
)
_BY_NAME = {field.name: field for field in FIELDS}
# Words and answers as messages are read (bot.spelling.normalise), once.
_NAMES = {field.name: frozenset(map(normalise, field.names)) for field in FIELDS}
_CHANGE = frozenset(map(normalise, ("change", "correct", "edit", "wrong", "badal", "badalna", "badlo", "badle", "badalni",
                                    "galat", "बदल", "बदलना", "बदलें", "बदलो", "गलत")))
_SKIP = frozenset(map(normalise, ("skip", "not sure", "dont know", "do not know", "pata nahi", "nahi pata", "malum nahi",
                                  "पता नहीं", "नहीं पता")))


def start(state, words):
    """Begin a booking: its first question."""
    pending.begin_booking(state, {"step": FIELDS[0].name, "form": {"lang": words.lang}, "at": time.time()})
    return question(FIELDS[0], words)


def question(field, words):
    """The question of a field, its options numbered (each option's title fills the placeholder of its message's name)."""
    titles = {message: words.message(message) for _, message in field.options}
    return words.message(field.message, **titles)


def reply(reading, booking, topic_answer, handoff):
    """The answer to a message while a booking is under way: the next question, the summary, or the request sent.

    `topic_answer(intent)` answers a question of another topic asked meanwhile (None: not from a guess); `handoff`
    queues the request.
    """
    words, state, command = reading.words, reading.state, reading.command
    if command == "cancel":
        pending.end_booking(state)
        return Answer(None, [words.message("booking_cancelled")])
    paused = time.time() - booking.get("at", 0) > PAUSE_SECONDS
    booking["at"] = time.time()
    changing = _field_named(reading.body)
    if changing:
        booking["step"] = changing.name
        pending.begin_booking(state, booking)
        return Answer(None, [question(changing, words)])
    if booking["step"] == "summary":
        if command == "yes" or command != "no" and words.knowledge.listening.says_yes(reading.body):
            pending.end_booking(state)
            return Answer(BOOKING, [_send(_finished(booking["form"]), reading, handoff)])
        pending.begin_booking(state, booking)
        return Answer(None, [words.message("booking_again", question=summary(booking["form"], words))])
    field = _BY_NAME[booking["step"]]
    value = _read(field, reading)
    if value is None:
        pending.begin_booking(state, booking)
        match = words.knowledge.matcher.match(reading.body)
        answer = topic_answer(match.intent) if match.intent and _asks(field, reading.body) else None
        if answer and answer.pages:
            # A question meanwhile: its answer, then the booking's question again.
            answer.pages[-1] += "\n\n" + words.message("booking_resume", question=question(field, words))
            return answer
        again = "booking_resume" if paused else "booking_again"
        return Answer(None, [words.message(again, question=question(field, words))])
    booking["form"][field.name] = value
    # After a correction the summary comes back, unless questions were still to come.
    following = _next(booking["form"])
    booking["step"] = following.name if following else "summary"
    pending.begin_booking(state, booking)
    return Answer(None, [question(following, words) if following else summary(booking["form"], words)])


def summary(form, words):
    """The request as the patient confirms it."""
    def title(message):
        return words.message(message)
    options = {value: message for field in FIELDS for value, message in field.options}
    return words.message(
        "booking_summary", for_whom=title(options[form["for_whom"]]), patient_name=form["name"], age=form["age"],
        city=form["city"], cancer=form["cancer"] or title("booking_not_given"),
        reports=title("booking_yes" if form["reports"] else "booking_no"), day=form["day"],
        time=title(options[form["time"]]), call=title(options[form["call"]]))


def _send(form, reading, handoff):
    """Put the request in the coordinators' queue with its form; what the patient is told."""
    handoff.escalate(reading.inbound, reading.conversation, "consultation", form=form)
    now, words = time.time(), reading.words
    callback = words.message("booking_callback_soon") if handoff.hours.is_open(now) else handoff.hours.opening_text(now)
    return words.message("booking_sent", reference=form["reference"], callback=callback)


def _next(form):
    """The first field not answered yet, or None."""
    return next((field for field in FIELDS if field.name not in form), None)


def _finished(form):
    """The form as the coordinators get it, with a reference the patient can quote."""
    return {**form, "reference": "FC-" + "".join(secrets.choice(_REFERENCE) for _ in range(4))}


def _field_named(text):
    """The field a message asks to change ("change the day", "naam galat hai"), else None."""
    found = set(normalise(text).split())
    if not found & _CHANGE:
        return None
    return next((field for field in FIELDS if found & _NAMES[field.name]), None)


def _read(field, reading):
    """The answer to `field` in the message, or None when it is not one."""
    body, command = reading.body.strip(), reading.command
    if field.kind == "yes_no":
        return {"yes": True, "no": False}.get(command, reading.words.knowledge.listening.says_yes(body))
    if field.kind == "age":
        found = _NUMBER.search(body)
        return int(found[1]) if found and 0 < int(found[1]) <= 120 else None
    if field.kind == "choice":
        return _option(field, body, reading.words)
    if not body or len(body) > 200:
        return None
    if field.kind == "optional" and normalise(body) in _SKIP:
        return ""
    if _asks(field, body) and reading.words.knowledge.matcher.match(body).intent:
        return None
    return body


def _option(field, body, words):
    """The option a digit, its title or its words pick ("2", "Video call", "mere papa ke liye"), else None."""
    text = body.strip().rstrip(".)")
    if text.isdecimal():
        number = int(text)
        return field.options[number - 1][0] if 1 <= number <= len(field.options) else None
    said = normalise(body)
    for value, message in field.options:
        if said in {normalise(title) for title in words.knowledge.messages[message].values()}:
            return value
    return words.knowledge.listening.picks(body, [value for value, _ in field.options])


def _asks(field, body):
    """True when a message in place of an answer reads as a question: it asks ("...?"), or it is long for a short answer."""
    if body.rstrip().endswith("?"):
        return True
    return field.kind in ("text", "choice", "age", "yes_no") and len(normalise(body).split()) >= QUESTION_WORDS
