"""The patient asks for a person: the chat joins the coordinators' queue."""


def ask_for_person(turn):
    """Queue the chat for a coordinator; the patient hears when to expect an answer."""
    turn.handoff.escalate(turn.inbound, turn.conversation, "asked")
    return [turn.handoff.waiting_message(turn.words, reply=turn.reply)]
