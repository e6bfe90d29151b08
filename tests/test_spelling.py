"""Spelling: one word written the ways patients write it (Devanagari variants, Hinglish spellings) reads as one."""

import pytest

from bot import knowledge
from bot.config import ROOT
from bot.spelling import normalise


@pytest.fixture(scope="module")
def matcher():
    return knowledge.load(ROOT / "responses.yaml").matcher


@pytest.mark.parametrize("spellings", [
    # a dot under the letter (nukta) or not, typed as two characters or as one
    ("फ़ायदा", "फायदा", "\u095eायदा"), ("ज़्यादा", "ज्यादा", "\u095b्यादा"), ("पड़ेगा", "पडेगा", "प\u095cेगा"),
    ("पढ़ना", "पढना", "प\u095dना"), ("क़ीमत", "कीमत", "\u0958ीमत"), ("ख़र्च", "खर्च", "\u0959र्च"),
    ("ग़लत", "गलत", "\u095aलत"),
    # chandrabindu or anusvara; a nasal sign or a half letter
    ("हाँ", "हां"), ("साँस", "सांस"), ("हिंदी", "हिन्दी"), ("संबंध", "सम्बन्ध"), ("लंबा", "लम्बा"),
    # a vowel sign on अ for the vowel letter, a zero-width joiner inside a conjunct
    ("आराम", "अाराम"), ("ओर", "अोर"), ("औरत", "अौरत"), ("क्या", "क्\u200dया", "क्\u200cया"),
])
def test_devanagari_spelling_variants_read_the_same(spellings):
    assert len({normalise(word) for word in spellings}) == 1, [normalise(word) for word in spellings]


@pytest.mark.parametrize("spellings", [
    ("zyada", "jyada", "zyaada", "ज़्यादा", "ज्यादा"), ("fayda", "phayda", "faayda", "फ़ायदा", "फायदा"),
    ("zarur", "jarur", "ज़रूर", "जरूर"), ("fir", "phir", "फिर"), ("lamba", "लंबा"), ("sambandh", "संबंध"),
])
def test_hinglish_spellings_read_as_the_devanagari(spellings):
    assert len({normalise(word) for word in spellings}) == 1, [normalise(word) for word in spellings]


@pytest.mark.parametrize("text", ["साइड इफ़ेक्ट क्या हैं?", "साइड इफेक्ट क्या हैं?", "side effect kya hai"])
def test_side_effects_are_understood_however_effect_is_spelled(matcher, text):
    assert matcher.match(text).intent == "side_effects"


def test_the_benefit_is_understood_with_or_without_the_dot(matcher):
    assert matcher.match("इसके फ़ायदे क्या हैं").intent == matcher.match("इसके फायदे क्या हैं").intent == "benefits"
