"""The greeting's numbered topic menu."""


def greet(turn):
    """Send the greeting with its menu, and remember the menu so a digit can pick a topic."""
    turn.state["choices"] = list(turn.knowledge.menu)
    return [turn.reply]
