"""Handlers for intents that do more than send their curated reply: HANDLERS = {intent id: handle(turn)}."""

from intents import consent, handoff

HANDLERS = {
    "human_handoff": handoff.ask_for_person,
    "opt_out": consent.opt_out,
}
