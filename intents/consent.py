"""What the patient agrees to receive: opting out of messages."""

from bot import pending


def opt_out(turn):
    """Stop every message to the patient until they write START; this confirmation is the last one."""
    turn.conversation.opt_out()
    pending.clear(turn.state)
    return [turn.reply]
