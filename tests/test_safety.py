"""Red flags (bot/safety.py, safety.yaml): every IL-2 red flag opens the emergency path, nothing else does.

The message sets under tests/data/ were written by people who did not write the red flags, in English,
Hinglish and Hindi; none of their lines is copied into safety.yaml or responses.yaml.
"""

import json
import shutil

import pytest

from bot import knowledge, safety
from bot.config import ROOT, Settings
from bot.knowledge import KnowledgeError, KnowledgeFile
from bot.replies import Answer, Words, lay_out
from bot.safety import Limits
from tests.conftest import FIXTURE_KNOWLEDGE, HERE, WhatsApp, wait_for

DATA = HERE / "data"
SAFETY = ROOT / "safety.yaml"


def lines(name):
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def real():
    return knowledge.load(ROOT / "responses.yaml")


@pytest.fixture(scope="module")
def flags(real):
    return real.safety


def test_every_red_flag_happening_now_opens_the_emergency_path(flags):
    cases = lines("red_flags.jsonl")
    missed = [f"{c['sign']} ({c['lang']}): {c['text']}" for c in cases if not flags.alarm(c["text"])]
    assert len(cases) >= 150 and {c["lang"] for c in cases} == {"en", "hinglish", "hi"}
    assert missed == []


def test_questions_history_coping_and_denials_raise_no_alarm(flags):
    cases = lines("not_alarms.jsonl")
    false_alarms = [f"{c['sign']}: {c['text']} -> {flags.alarm(c['text']).flag}" for c in cases if flags.alarm(c["text"])]
    assert false_alarms == []


def test_a_set_the_red_flags_were_not_written_from(flags):
    """Written apart from the signs and the examples: families' own words. Its figures, not 100%, are the honest ones."""
    cases = lines("safety_heldout.jsonl")
    alarms = [c for c in cases if c["alarm"]]
    caught = [c for c in alarms if flags.alarm(c["text"])]
    false_alarms = [c for c in cases if not c["alarm"] and flags.alarm(c["text"])]
    assert len(alarms) == 150 and len(caught) >= 142 and len(false_alarms) <= 5
    # The signs alone catch 119, the learnt reader the rest. (They caught 120 while "ho chuke", already done, was
    # misread as "choke"; the diarrhoea counted in words, "बारह बार", is now the learnt reader's.)
    assert len([c for c in alarms if flags.signed(c["text"])]) >= 119


def test_a_second_set_written_apart(flags):
    """Written apart, after the learnt reader was built; four signs were added for what it missed (hypotensive,
    oliguric, harming oneself, no answer when called), so its first figures were 76 of 80 and 4 false alarms."""
    cases = lines("safety_fresh.jsonl")
    alarms = [c for c in cases if c["alarm"]]
    false_alarms = [c["text"] for c in cases if not c["alarm"] and flags.alarm(c["text"])]
    assert len(alarms) == 80 and len(cases) == 320
    assert sum(1 for c in alarms if flags.alarm(c["text"])) >= 79 and len(false_alarms) <= 4


@pytest.mark.parametrize("text", [
    "my mom's slippers fit her yesterday and today she can't get her feet in them at all. hands swollen too, bangles stuck.",
    "dadaji kursi pe baithe baithe ludhak gaye, hila rahe koi jawab nahi, chehra safed.",
])
def test_the_learnt_reader_catches_what_no_sign_names(flags, text):
    assert flags.signed(text) is None and flags.alarm(text)


@pytest.mark.parametrize("text", [
    "papa nahi rahe kal raat", "he stopped breathing last night and passed away", "हमारे पिताजी अब नहीं रहे",
    "seene me dard nahi hai", "does it cause fast heartbeat",
])
def test_a_death_told_of_or_a_sign_set_aside_is_no_alarm_even_to_the_learnt_reader(flags, text):
    assert flags.alarm(text) is None


@pytest.mark.parametrize("text", ["2", "10", "12.", "hi", "ok thanks", "fever 99", "bp normal"])
def test_menu_numbers_and_short_replies_are_no_alarm(flags, text):
    assert flags.alarm(text) is None


def test_without_examples_the_signs_work_alone(tmp_path):
    text = SAFETY.read_text(encoding="utf-8")
    bare, problems = safety.build(text[:text.index("\nexamples:")] + "\n", SAFETY)
    assert problems == [] and bare.model is None and bare.alarm("jhatke aa rahe hain")


@pytest.mark.parametrize("name", ["not_unsubscribe.jsonl", "sensitive.jsonl", "destructive_more.jsonl"])
def test_requests_bereavement_and_sensitive_questions_raise_no_alarm(flags, name):
    assert [c["text"] for c in lines(name) if flags.alarm(c["text"])] == []


def test_thoughts_of_self_harm_bring_the_helpline(flags):
    cases = [c for c in lines("red_flags.jsonl") if c["sign"] == "self_harm"]
    assert cases and all(flags.alarm(c["text"]).helpline for c in cases)
    assert not flags.alarm("he cannot breathe").helpline


@pytest.mark.parametrize("text, alarming", [
    ("fever 103", True), ("temperature is 39.8", True), ("104 bukhar hai", True), ("102.5 F since morning", True),
    ("39,6 degree", True), ("बुखार 103 है", True), ("fever 100.2, what helps", False), ("temp 37.9", False),
    ("fever for 3 days", False), ("he is 60 years old and has fever", False), ("fever 99 pulse 110", False),
    ("bp 80/50", True), ("BP machine shows 70/40", True), ("bp 120/80 today", False), ("what is normal bp for 60 year old", False),
    ("pulse 150", True), ("pulse 88", False), ("he had 104 fever last year", False),
])
def test_readings_are_held_against_the_limits(flags, text, alarming):
    assert bool(flags.alarm(text)) is alarming


def test_the_limits_are_settings(real):
    text = open(SAFETY, encoding="utf-8").read()
    lower = knowledge.load(ROOT / "responses.yaml", limits=Limits(fever_c=37.8)).safety
    assert lower.alarm("temp 37.9") and not real.safety.alarm("temp 37.9")
    stricter, problems = safety.build(text, SAFETY, Limits(low_systolic=100))
    assert problems == [] and stricter.alarm("bp 95/60") and not real.safety.alarm("bp 95/60")


@pytest.mark.parametrize("text", [
    "no chest pain, no breathing trouble",  # denied
    "seene me dard nahi hai",  # denied after, Hinglish
    "does il-2 cause low blood pressure",  # asked in general
    "he had a seizure in 2015, is he eligible",  # the past
    "my heart says we should try it",  # everyday words
    "how much is a chest x-ray",
])
def test_signs_denied_asked_about_or_past_are_set_aside(flags, text):
    assert flags.alarm(text) is None


@pytest.mark.parametrize("text", [
    "gasping, is that a side effect?",  # the question is in another clause
    "I know chills are normal but now she is shaking all over and burning hot",  # "but" starts a new part
    "he had a heart attack years ago and now he has chest pain again",  # now is nearer than the past
    "saans nahi aa rahi",  # the denial is the sign
    "the cancer is not responding to chemo and now papa is not responding to us",
])
def test_a_sign_happening_now_is_found_beside_what_sets_others_aside(flags, text):
    assert flags.alarm(text)


EMERGENCIES = [
    "my father cannot breathe", "he cnt breth pls help", "she is gasping for air",
    "saans nahi aa rahi", "papa ki saans phool rahi hai", "सांस लेने में दिक्कत हो रही है",
    "severe chest pain", "chest pian since morning", "seene me tez dard", "छाती में दर्द",
    "she fainted in the bathroom", "he collapsed and is not responding", "mummy behosh ho gayi",
    "he is having a seizure", "jhatke aa rahe hain", "fever is 104 and rising", "bukhar 105 hai",
    "she is confused and not making sense", "papa ajeeb baatein kar rahe hain",
    "the line in his arm is bleeding a lot", "khoon ki ulti ho rahi hai", "her lips are turning blue",
    "his face and throat are swelling", "not passed urine since morning", "i want to end my life",
    "he is panting and can't speak", "she is not opening her eyes", "his pulse is very weak",
    "severe dizziness and he fell down", "vomiting non stop, cannot keep water down", "he is very drowsy",
    "she doesn't know where she is", "होश नहीं है",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_severe_symptoms_happening_now_are_emergencies(real, text):
    assert real.safety.alarm(text)
    assert real.match(text).intent == "emergency"


@pytest.mark.parametrize("text", [
    "We are confused after the meeting. What is the difference between il-2 and chemo?",
    "I got a bit confused by the leaflet, how is the drip given?",
    "I have questions a chat cannot answer, please have the coordinator call me",
    "is fever normal after il-2",
    "does il-2 cause breathing problems",
    "can interleukin cause low blood pressure",
    "is bleeding a side effect",
    "what if he can't breathe during the treatment",
    "he had a seizure last year, can he still take il-2",
    "my father has a mild fever after the drip, what should we do",
    "will i feel dizzy",
    "no more bot answers, connect me to a real person",
    "is drowsiness a side effect of il-2",
])
def test_questions_about_symptoms_in_general_are_not_emergencies(real, text):
    assert not real.safety.alarm(text)
    assert real.match(text).intent != "emergency"


def test_a_cancer_not_responding_to_treatment_is_no_unresponsive_patient(real):
    assert not real.safety.alarm("her tumour is not responding to chemo any more, what next")
    assert not real.safety.alarm("his kidney cancer has not responded to two earlier treatments")
    assert real.match("his kidney cancer has not responded to two earlier treatments").intent != "emergency"


def test_the_knowledge_answers_a_red_flag_with_the_emergency_intent(real):
    assert real.match("papa ka bp bahut low hai aur chakkar aa raha hai").intent == "emergency"
    assert real.match("what are the side effects").intent == "side_effects"
    # the topic matcher itself never raises the alarm
    assert real.matcher.match("papa ka bp bahut low hai aur chakkar aa raha hai").intent != "emergency"


def test_every_emergency_phrase_of_the_knowledge_opens_the_emergency_path(real):
    assert [p for p in real.intents["emergency"].phrases if not real.safety.alarm(p)] == []


def edited(tmp_path, old, new):
    text = SAFETY.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "safety.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, text.replace(old, new, 1)


def line_of(text, fragment):
    return text[:text.index(fragment)].count("\n") + 1


def test_an_edit_that_silences_a_red_flag_is_refused_with_file_and_line(tmp_path):
    path, text = edited(tmp_path, '      - "seizure"\n', '      - "seizure ; never"\n')
    with pytest.raises(KnowledgeError) as error:
        knowledge.load(FIXTURE_KNOWLEDGE, safety_path=path)
    problem = next(p for p in error.value.problems if "jhatke" in p.message)
    assert problem.path == str(path) and problem.line == line_of(text, "  - jhatke aa rahe hain")
    assert "'jhatke aa rahe hain' must open the emergency path but does not" in str(error.value)


def test_an_edit_that_alarms_on_a_calm_message_is_refused(tmp_path):
    path, _ = edited(tmp_path, '      - "severe ; pain"\n', '      - "severe ; pain"\n      - "tired"\n')
    with pytest.raises(KnowledgeError, match="'no fever, no breathing problem, just tired' must not alarm but is "
                                             "read as the red flag 'severe_pain'"):
        knowledge.load(FIXTURE_KNOWLEDGE, safety_path=path)


def test_a_phrase_set_aside_that_would_hide_a_sign_is_refused(tmp_path):
    path, _ = edited(tmp_path, "set_aside: [", "set_aside: [fainting, ")
    with pytest.raises(KnowledgeError, match="set_aside.0: 'fainting' is a word of a red-flag sign by itself"):
        knowledge.load(FIXTURE_KNOWLEDGE, safety_path=path)


def test_yes_and_no_in_a_list_stay_words_and_a_broken_file_is_named(tmp_path):
    # YAML 1.1 would read `no` as false: the denial "no chest pain" must keep working
    flags, problems = safety.build(SAFETY.read_text(encoding="utf-8"), SAFETY)
    assert problems == [] and "no" in flags.denial
    path, text = edited(tmp_path, "red_flags:\n  breathing:\n", "red_flags:\n  breathing: [oops\n")
    with pytest.raises(KnowledgeError, match=rf"{path}:\d+: YAML syntax error"):
        knowledge.load(FIXTURE_KNOWLEDGE, safety_path=path)


def test_a_broken_safety_edit_keeps_the_last_good_version_serving(tmp_path):
    path = tmp_path / "safety.yaml"
    shutil.copy(SAFETY, path)
    source = KnowledgeFile(str(FIXTURE_KNOWLEDGE), check_every=0, safety_path=str(path))
    assert source.current().safety.alarm("jhatke aa rahe hain")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('      - "seizure"\n', '      - "seizure ; never"\n'), encoding="utf-8")
    wait_for(lambda: source.current() and source.error, "the refused edit")
    assert "must open the emergency path" in str(source.error)
    assert source.current().safety.alarm("jhatke aa rahe hain")
    # a good edit is taken
    path.write_text(text.replace("  - need an ambulance\n", "  - need an ambulance\n  - ambulance bulao jaldi\n"),
                    encoding="utf-8")
    wait_for(lambda: source.current() and source.error is None, "the good edit")


def test_a_refused_safety_edit_is_shown_on_the_operations_pages(make_app, tmp_path):
    path = tmp_path / "safety.yaml"
    shutil.copy(SAFETY, path)
    app = make_app(SAFETY_PATH=str(path))
    assistant = app.extensions["assistant"]
    # a sign that alarms on a message that must not alarm: refused, whatever else reads the message
    path.write_text(SAFETY.read_text(encoding="utf-8").replace('      - "severe ; pain"\n', '      - "severe ; pain"\n      - "tired"\n'),
                    encoding="utf-8")
    assistant.knowledge_file.check_every = 0
    wait_for(lambda: assistant.knowledge_file.current() and assistant.knowledge_file.error, "the refused edit")
    client = app.test_client()
    client.get("/readyz")
    assert "refused" in client.get("/readyz").get_json()["knowledge"]
    # patients are served the last good version: its red flags, and no alarm where it has none
    assert WhatsApp(client).send("jhatke aa rahe hain")[0].startswith("Call 112")
    assert assistant.knowledge_file.current().safety.alarm("no fever, just tired") is None


# Through the webhook, on the real knowledge: what patients notice.

@pytest.fixture
def real_app(make_app):
    return make_app(KNOWLEDGE_PATH=str(ROOT / "responses.yaml"), LANGUAGE_DIR=str(ROOT / "language"))


def test_a_request_a_bereavement_or_a_negated_stop_never_silences_the_patient(real_app, real):
    """Each message, then a question: the question still gets its answer (nothing stopped the messages), or a
    coordinator has the chat (asked to send a report or cancel an appointment, a person answers)."""
    costs = real.pages("costs")[0].splitlines()[0]
    client = real_app.test_client()
    store = real_app.extensions["assistant"].store
    silenced = []
    cases = lines("not_unsubscribe.jsonl") + [c for c in lines("destructive_more.jsonl") if c["kind"] != "real_stop"]
    for n, case in enumerate(cases):
        sender = f"whatsapp:+91980{n:07d}"
        whatsapp = WhatsApp(client, sender=sender)
        whatsapp.send(case["text"])
        after = whatsapp.send("how much does the treatment cost")
        answered = after and after[0].startswith(costs)
        if not answered and store.chat(sender) is None:
            silenced.append(f"{case['text']} -> {after}")
    assert silenced == []


def test_a_message_that_only_resembles_stop_asks_first_and_yes_stops(real_app, real):
    whatsapp = WhatsApp(real_app.test_client())
    question = whatsapp.send("please send me the brochure")
    assert question and not question[0].startswith(real.pages("opt_out")[0].splitlines()[0])
    asked = whatsapp.send("i dont want any more messages from you")
    assert asked[0].startswith("Do you want us to stop sending you messages? Reply *YES* to stop them.")
    assert "112 (emergency) or 108 (ambulance)" in asked[0]
    assert whatsapp.send("yes")[0].startswith("Done — you will get no more messages from us.")
    assert whatsapp.send("how much does the treatment cost") == []
    # the exact command word needs no question
    other = WhatsApp(real_app.test_client(), sender="whatsapp:+919800000099")
    assert other.send("STOP")[0].startswith("Done — you will get no more messages from us.")


def test_a_red_flag_gets_the_emergency_reply_with_what_happens_next(real_app):
    whatsapp = WhatsApp(real_app.test_client())
    reply = whatsapp.send("papa ka bp bahut low hai aur chakkar aa raha hai")
    assert len(reply) == 1 and "112 (इमरजेंसी) या 108 (एम्बुलेंस) पर फ़ोन करें" in reply[0]
    assert "हमारे केयर कोऑर्डिनेटरों को सूचना दे दी गई है" in reply[0]
    english = WhatsApp(real_app.test_client(), sender="whatsapp:+919800000098").send("fever 103 and shivering")
    assert "Call 112 (emergency) or 108 (ambulance)" in english[0]
    assert "Our care coordinators have been alerted: one of them will write to you here as soon as they can." in english[0]


def test_outside_office_hours_the_emergency_reply_says_when_a_person_will_write(make_app):
    app = make_app(KNOWLEDGE_PATH=str(ROOT / "responses.yaml"), LANGUAGE_DIR=str(ROOT / "language"),
                   OFFICE_HOURS="Mon-Sun 00:00-00:01")
    reply = WhatsApp(app.test_client()).send("she collapsed and is not waking up")[0]
    assert "the office is closed now: a coordinator will write to you here by *" in reply


def test_thoughts_of_self_harm_get_the_helpline_and_an_urgent_chat(real_app):
    client = real_app.test_client()
    reply = WhatsApp(client).send("mujhe jeene ka mann nahi karta")
    assert len(reply) == 1 and "टेली-मानस 14416" in reply[0] and "112 (इमरजेंसी)" in reply[0]
    queue = real_app.extensions["assistant"].store.waiting()
    assert [chat["urgent"] for chat in queue] == [True]


def test_not_understood_and_did_you_mean_carry_the_emergency_line(real_app):
    whatsapp = WhatsApp(real_app.test_client())
    whatsapp.send("hello")
    assert "112 (emergency) or 108 (ambulance)" in whatsapp.send("quantum physics homework due tomorrow")[0]
    offer = whatsapp.send("best cricket bat for a teenager")[0]
    assert "Reply *YES*" in offer and "112 (emergency) or 108 (ambulance)" in offer


def test_on_a_first_contact_the_whole_first_page_of_every_reply_comes_first(real):
    """The welcome never pushes a reply's warning or care-team line to a page the patient may not open."""
    settings = Settings.from_env({})
    pushed = []
    for lang in ("en", "hi"):
        for intent in real.intents:
            words = Words(real, settings, {"lang": lang})
            pages = words.pages(intent)
            message = lay_out(Answer(intent, pages, real.intents[intent].followups), words, {}, words.message("welcome"))
            first = message.as_text()
            missing = [line for line in pages[0].splitlines() if line.strip() and "{menu}" not in line and line not in first]
            if missing or len(first) >= 1000 or len(message.notice) >= 1000:
                pushed.append(f"{intent} ({lang}): {missing[:1]}")
    assert pushed == []


def test_a_first_contact_sees_the_side_effects_warning_and_the_welcome(real_app, real):
    replies = WhatsApp(real_app.test_client()).send("what side effects can interleukin cause")
    warning = [line for line in real.pages("side_effects")[0].splitlines() if "⚠️" in line or "care team" in line]
    assert warning and all(line in replies[0] for line in warning)
    assert real.message("welcome").split("{")[0].strip() in "\n".join(replies)
