"""A conversation that listens, through Assistant.respond on the fixture knowledge with the project's conversation
cues (language/conversation.yaml): asked again, MORE in its forms, the patient's own case, two questions at once,
the emergency and what to do while help comes, and the last topic as context for a few minutes."""

import json
import shutil

import pytest

from bot.inbound import Inbound
from bot.pending import CONTEXT_SECONDS
from tests.conftest import ROOT, saw_the_welcome

PATIENT = "whatsapp:+919800000077"
SOS = "In an emergency call 112 (emergency) or 108 (ambulance)."
SIDE_EFFECTS = "Fever and chills are common. Ask your care team.\n\nRelated:\n1. Coping\n2. What to expect"
POINTER = f"That is answered above (Side effects). Reply YES for a coordinator. {SOS}\n\nRelated:\n1. Coping\n2. What to expect"
PERSONAL = "Thanks for the details; your case is for the care team. Reply YES for a coordinator. In general:"
EMERGENCY = "Call 112 (emergency) or 108 (ambulance) now. A coordinator will write soon."
WHILE_WAITING = "While you wait: call 112 (emergency) or 108 (ambulance) if you have not. A coordinator will write soon."


@pytest.fixture
def chat(make_app, tmp_path):
    """A patient who has seen the welcome; `chat("text")` returns the replies."""
    language = tmp_path / "language"
    language.mkdir()
    shutil.copy(ROOT / "language" / "conversation.yaml", language)
    assistant = make_app(LANGUAGE_DIR=str(language)).extensions["assistant"]
    saw_the_welcome(assistant.store, PATIENT, "test-1")
    talk = lambda text: assistant.respond(Inbound(sender=PATIENT, body=text))  # noqa: E731
    talk.assistant = assistant
    return talk


def test_the_same_topic_again_points_to_the_answer_above_and_a_third_time_answers_in_full(chat):
    assert chat("what are the side effects") == [SIDE_EFFECTS]
    assert chat("so what are the side effects?") == [POINTER]
    assert chat("what are the side effects") == [SIDE_EFFECTS]
    # The pointer offered a coordinator: YES takes it.
    assert chat("what are the side effects then") == [POINTER]
    assert chat("yes") == ["A coordinator will reply soon. Reply CANCEL to go back."]


def test_more_in_its_forms_after_a_one_page_answer_offers_the_related_topics_once(chat):
    chat("what are the side effects")
    more = chat("tell me more please")
    assert more == [f"That is all on Side effects. Pick a related topic or reply YES for a coordinator. {SOS}"
                    "\n\nRelated:\n1. Coping\n2. What to expect"]
    assert chat("1") == ["Rest and drink water. Ask your care team."]
    # Asked again, it is not the same text twice: there is nothing more, and the menu.
    chat("what are the side effects")
    chat("more details please")
    assert chat("aur batao")[0].startswith("Nothing more on that.")


def test_more_with_no_topic_before_it_shows_the_menu(chat):
    assert chat("explain in more detail")[0].startswith("Nothing more on that.")


def test_a_personal_case_is_acknowledged_before_the_general_answer_and_yes_brings_a_coordinator(chat):
    replies = chat("my father is 68, what are the side effects")
    assert replies == [f"{PERSONAL}\n\n{SIDE_EFFECTS}"]
    assert chat("haan") == ["A coordinator will reply soon. Reply CANCEL to go back."]
    assert chat.assistant.store.chat(PATIENT)["reason"] == "offer"


@pytest.mark.parametrize("text", ["my mother is 72, has BP. what are the side effects",
                                  "mere papa 60 saal ke hain, side effect kya hai",
                                  "he's 74 with stage 4 kidney cancer, what are the side effects"])
def test_ages_illnesses_and_stages_are_a_personal_case_and_never_a_reading(chat, text):
    assert chat(text)[0].startswith(PERSONAL)


def test_a_general_question_is_not_a_personal_case(chat):
    assert chat("does insurance cover it") == ["Check with your insurer."]


def test_two_questions_in_one_message_are_both_answered_when_they_fit(chat):
    assert chat("what are the side effects and how much does it cost") == [
        "Fever and chills are common. Ask your care team.\n\nCosts vary. Ask the care team for an estimate."]


def test_after_the_emergency_reply_the_patient_hears_what_to_do_while_waiting_once(chat):
    assert chat("i cannot breathe") == [EMERGENCY]
    assert chat("ambulance is coming, what do i do till then") == [WHILE_WAITING]
    # Then the coordinator's chat: the assistant is silent, the console shows the messages.
    assert chat("still waiting") == []
    assert chat.assistant.store.chat(PATIENT)["urgent"]


def test_an_emergency_told_again_gets_what_to_do_while_waiting_not_the_same_text(chat):
    assert chat("i cannot breathe") == [EMERGENCY]
    assert chat("he still cannot breathe") == [WHILE_WAITING]
    assert chat("i cannot breathe") == [EMERGENCY]


def test_no_two_replies_in_a_row_are_the_same_over_a_conversation_that_repeats_itself(chat):
    said = [chat(text) for text in ("what are the side effects", "so what are the side effects?", "tell me more",
                                    "what are the side effects", "aur batao", "more", "how much does it cost", "price")]
    assert all(a != b for a, b in zip(said, said[1:]))


def test_the_last_topic_decides_an_unclear_message_for_a_few_minutes(make_app):
    """On the real knowledge: "aur radiation se?" alone is unclear; after the comparison answer it is a comparison."""
    assistant = make_app(KNOWLEDGE_PATH=str(ROOT / "responses.yaml"), LANGUAGE_DIR=str(ROOT / "language"),
                         ).extensions["assistant"]
    saw_the_welcome(assistant.store, PATIENT, assistant.knowledge_file.current().notice_version)

    def topic_of(text):
        assistant.respond(Inbound(sender=PATIENT, body=text))
        return [m.get("intent") for m in assistant.store.transcript(PATIENT) if m["role"] == "patient"][-1]

    assert topic_of("aur radiation se?") is None
    assert topic_of("is interleukin better than chemo?") == "comparison"
    assert topic_of("aur radiation se?") == "comparison"
    # Some minutes later the same words are read alone again.
    key = assistant.store.key("state", PATIENT)
    state = json.loads(assistant.store.redis.get(key))
    state["topic"]["at"] -= CONTEXT_SECONDS + 1
    assistant.store.redis.set(key, json.dumps(state))
    assert topic_of("aur radiation se?") is None
