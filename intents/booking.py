"""The patient asks to book the free consultation: the booking's questions begin (bot/booking.py)."""

from bot import booking
from bot.replies import Words


def book_consultation(turn):
    """The intent's reply, then the booking's first question."""
    words = Words(turn.knowledge, turn.handoff.settings, turn.state)
    return [f"{turn.reply}\n\n{booking.start(turn.state, words)}"]
