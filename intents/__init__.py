"""Handlers for intents that do more than send their curated reply: HANDLERS = {intent id: handle(turn)}."""

from intents import handoff, menu

HANDLERS = {
    "greeting": menu.greet,
    "human_handoff": handoff.ask_for_person,
}
