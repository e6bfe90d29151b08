"""The patient asks to book the free consultation: the booking's questions begin (bot/booking.py)."""

from bot import booking


def book_consultation(turn):
    """The intent's reply, then the booking's first question."""
    return [f"{turn.reply}\n\n{booking.start(turn.state, turn.words)}"]
