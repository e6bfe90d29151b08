"""Which language a message is in: Devanagari, Hinglish, English, or too short to tell."""

import pytest

from bot.language import choose, detect

HINGLISH = frozenset({"kya", "hai", "karo", "mujhe"})


@pytest.mark.parametrize("text, expected", [
    ("साइड इफेक्ट क्या हैं", "hi"),
    ("side effect kya hai", "hi"),
    ("Mujhe bukhar", "hi"),
    ("What are the side effects?", "en"),
    ("how much does it cost", "en"),
    ("ok", None),
    ("2", None),
    ("thank you", None),
    ("", None),
])
def test_detect(text, expected):
    assert detect(text, HINGLISH) == expected


def test_the_last_clear_language_is_kept_for_messages_that_do_not_tell():
    state = {}
    assert choose("side effect kya hai", state, HINGLISH) == "hi"
    assert choose("3", state, HINGLISH) == "hi"
    assert choose("what does it cost", state, HINGLISH) == "en"
    assert choose("ok", {}, HINGLISH) == "en"


def test_a_chosen_language_is_not_overridden():
    state = {"lang": "en", "lang_chosen": True}
    assert choose("side effect kya hai", state, HINGLISH) == "en"
