"""Conversation flows through Assistant.respond, without HTTP."""

import pytest

from bot.assistant import Inbound

PATIENT = "whatsapp:+919800000001"


@pytest.fixture
def assistant(app):
    return app.extensions["assistant"]


def say(assistant, text, **fields):
    return assistant.respond(Inbound(sender=PATIENT, body=text, **fields))


def test_a_number_after_the_menu_picks_that_topic(assistant):
    menu = say(assistant, "namaste")[0]
    assert "2. Side effects" in menu
    assert say(assistant, "2") == ["Fever and chills are common. Ask your care team."]


def test_the_menu_is_used_once(assistant):
    say(assistant, "hello")
    say(assistant, "3")
    assert "Topics:" in say(assistant, "3")[0]


def test_a_number_without_a_menu_shows_the_menu_instead_of_guessing(assistant):
    assert "Topics:\n1. " in say(assistant, "4")[0]


def test_a_number_beyond_the_menu_shows_the_menu_again(assistant):
    say(assistant, "hi there")
    assert "Topics:\n1. " in say(assistant, "9")[0]


def test_an_unknown_question_gets_the_fallback(assistant):
    assert say(assistant, "who won the cricket match yesterday") == [
        "Sorry, I did not understand. Reply MENU for topics or AGENT for a person."
    ]


def test_the_emergency_reply_carries_the_configured_numbers(assistant):
    assert say(assistant, "i cannot breathe") == ["Call 112 (emergency) or 108 (ambulance) now."]


def test_both_sides_go_to_the_transcript_with_the_intent(assistant):
    say(assistant, "how much does it cost")
    transcript = assistant.store.transcript(PATIENT)
    assert [(m["role"], m["text"]) for m in transcript] == [
        ("patient", "how much does it cost"),
        ("assistant", "Costs vary. Ask the care team for an estimate."),
    ]
    assert transcript[0]["intent"] == "costs"


def test_a_caption_is_answered_even_with_an_image(assistant):
    assert say(assistant, "what are the side effects", num_media=1, media_types=("image/jpeg",)) == [
        "Fever and chills are common. Ask your care team."
    ]


def test_a_superscript_digit_is_not_a_menu_number_but_a_devanagari_one_is(assistant):
    say(assistant, "hello")
    assert say(assistant, "२") == ["Fever and chills are common. Ask your care team."]
    assert say(assistant, "²") == ["Sorry, I did not understand. Reply MENU for topics or AGENT for a person."]


def test_a_retry_of_a_handled_message_gets_nothing_and_is_not_recorded_again(assistant):
    assert say(assistant, "how much does it cost", message_sid="SM1")
    assert say(assistant, "how much does it cost", message_sid="SM1") == []
    assert [m["role"] for m in assistant.store.transcript(PATIENT)] == ["patient", "assistant"]
    assert assistant.store.transcript(PATIENT)[0]["sid"] == "SM1"


@pytest.fixture
def limited(make_app):
    """An assistant that lets a sender send 3 messages a minute."""
    return make_app(RATE_LIMIT=3).extensions["assistant"]


def test_a_flood_gets_one_notice_then_silence_and_every_message_is_kept(limited):
    answers = [say(limited, f"how much does it cost {n}", message_sid=f"SM{n}") for n in range(6)]
    assert answers[:3] == [["Costs vary. Ask the care team for an estimate."]] * 3
    assert answers[3] == ["Too many messages; I will pause for a while. In an emergency call 112 (emergency) or 108 (ambulance)."]
    assert answers[4:] == [[], []]
    patient = [m for m in limited.store.transcript(PATIENT) if m["role"] == "patient"]
    assert [m["text"] for m in patient] == [f"how much does it cost {n}" for n in range(6)]
    assert [m.get("unanswered") for m in patient] == [None] * 3 + ["rate_limited"] * 3


def test_an_emergency_gets_through_the_rate_limit(limited):
    for n in range(5):
        say(limited, "price", message_sid=f"SM{n}")
    assert say(limited, "i cannot breathe", message_sid="SM9") == ["Call 112 (emergency) or 108 (ambulance) now."]


def test_a_message_that_failed_is_kept_unanswered_with_the_apology(assistant):
    assistant.store.redis.set(assistant.store.key("state", PATIENT), "{not json")
    with pytest.raises(ValueError):
        say(assistant, "hello", message_sid="SM1")
    assert assistant.keep(Inbound(sender=PATIENT, body="hello", message_sid="SM1"), ValueError("x")) == "error"
    assert [(m["role"], m["text"], m.get("unanswered")) for m in assistant.store.transcript(PATIENT)] == [
        ("patient", "hello", "error"),
        ("assistant", "Sorry, I cannot answer right now. In an emergency call 112 (emergency) or 108 (ambulance).", None),
    ]
    # The failure left the sender's turn free and the message unseen: Twilio's retry is answered.
    assistant.store.redis.delete(assistant.store.key("state", PATIENT))
    assert say(assistant, "hello", message_sid="SM2")
