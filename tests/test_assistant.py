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


def test_two_close_topics_are_offered_and_a_number_picks_one(assistant):
    assert say(assistant, "side effect of fever after dose") == [
        "Did you mean:\n1. Manage side effects\n2. Side effects"]
    assert say(assistant, "2") == ["Fever and chills are common. Ask your care team."]


def test_the_offer_is_answered_once(assistant):
    say(assistant, "side effect of fever after dose")
    say(assistant, "1")
    assert "Topics:\n1. " in say(assistant, "1")[0]


def test_a_clear_question_is_answered_without_asking(assistant):
    assert say(assistant, "what are the side effects") == ["Fever and chills are common. Ask your care team."]
