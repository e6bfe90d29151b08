"""Splitting long text into WhatsApp-sized pages."""

from bot.replies import split


def test_short_text_is_one_page():
    assert split("Hello.", 100) == ["Hello."]


def test_long_text_is_cut_at_paragraphs_first():
    text = "First paragraph here.\n\nSecond paragraph, a bit longer.\n\nThird."
    assert split(text, 35) == ["First paragraph here.", "Second paragraph, a bit longer.", "Third."]


def test_a_paragraph_without_breaks_is_cut_at_words():
    pieces = split("word " * 60, 50)
    assert all(len(piece) <= 50 for piece in pieces)
    assert " ".join(pieces).split() == ["word"] * 60


def test_text_without_any_break_is_cut_hard():
    pieces = split("x" * 250, 100)
    assert [len(piece) for piece in pieces] == [100, 100, 50]
