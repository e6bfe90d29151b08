"""Handlers for intents that do more than send their curated reply: HANDLERS = {intent id: handle(turn)}."""

from intents import consent

HANDLERS = {
    "opt_out": consent.opt_out,
}
