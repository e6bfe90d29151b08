"""What the patient agrees to receive: opting out of messages."""

from bot.replies import PENDING


def opt_out(turn):
    """Stop every message to the patient until they write START; this confirmation is the last one."""
    turn.conversation.opt_out()
    for key in PENDING:
        turn.state.pop(key, None)
    return [turn.reply]
