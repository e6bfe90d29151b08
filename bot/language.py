"""Which language to answer in: Hindi for Devanagari or Hinglish, English for English, else as before."""

import re

from bot.spelling import normalise

# Devanagari letters and signs, not its digits: "२" picks a menu item and says nothing about the language.
_DEVANAGARI = re.compile(r"[\u0900-\u0965\u0970-\u097F]")
# Fewer English words than this ("ok", "thanks", "2") say nothing about the patient's language.
ENGLISH_AT_LEAST = 3


def detect(text, hinglish_words):
    """'hi' for Devanagari or Hinglish, 'en' for a sentence in English, None when the text does not tell."""
    if _DEVANAGARI.search(text):
        return "hi"
    words = normalise(text).split()
    if any(word in hinglish_words for word in words):
        return "hi"
    if sum(word.isalpha() and word.isascii() for word in words) >= ENGLISH_AT_LEAST:
        return "en"
    return None


def is_hinglish(text, hinglish_words):
    """True for Hindi written in Latin letters: a text with one of the Hinglish words and no Devanagari."""
    return not _DEVANAGARI.search(text) and any(word in hinglish_words for word in normalise(text).split())


def choose(text, state, hinglish_words):
    """The reply language: the patient's HINDI/ENGLISH choice, else the last language they wrote in."""
    detected = None if state.get("lang_chosen") else detect(text, hinglish_words)
    if detected:
        state["lang"] = detected
    return state.get("lang", "en")
