"""Handlers for intents that do more than send their curated reply: HANDLERS = {intent id: handle(turn)}."""

from intents import booking, consent, handoff

HANDLERS = {
    "human_handoff": handoff.ask_for_person,
    "human_handoff.booking": booking.book_consultation,
    "opt_out": consent.opt_out,
}
