"""The patient asks for a person: the chat joins the coordinators' queue."""


from bot.replies import Words


def ask_for_person(turn):
    """Queue the chat for a coordinator; the patient hears when to expect an answer."""
    turn.handoff.escalate(turn.inbound, turn.conversation, "asked")
    words = Words(turn.knowledge, turn.handoff.settings, turn.state)
    return [turn.handoff.waiting_message(words, reply=turn.reply)]
