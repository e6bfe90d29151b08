"""What a reply leaves open for the patient's next message, kept in the conversation's state: the one place that
reads or writes it.

A numbered list (`choices`: the intent ids in order), the rest of a long answer (`more`), a question waiting for
YES or NO (`confirm`: handoff, stop or forget), the fallbacks in a row (`misses`), the topic last answered
(`topic`), which gives the next messages their context, and a booking of the free consultation under way (`booking`:
its question, the answers so far; bot/booking.py).
"""

from dataclasses import dataclass

OPEN = ("choices", "more", "confirm")
# How long, and over how many messages without a topic of their own, the topic last answered gives context.
CONTEXT_SECONDS = 10 * 60
CONTEXT_MESSAGES = 2


@dataclass(frozen=True)
class Topic:
    """The topic last answered: when, how many messages ago, and whether that reply pointed to an earlier one."""

    intent: str
    at: float
    since: int = 0
    pointed: str = ""


@dataclass(frozen=True)
class Pending:
    """What the last reply left open, as the next message found it."""

    choices: list | None = None
    more: dict | None = None
    confirm: str | None = None


def take(state):
    """What the last reply left open, taken out of the state: the message answers it, or it is set aside."""
    return Pending(**{key: state.pop(key) for key in OPEN if key in state})


def take_misses(state):
    """The fallbacks in a row so far, taken out of the state: any message that is not a miss ends the run."""
    return state.pop("misses", 0)


def missed(state, misses):
    """Count one more fallback in a row."""
    state["misses"] = misses


def offer(state, intent_ids):
    """A numbered list went out: a digit in the next message picks from it."""
    state["choices"] = list(intent_ids)


def ask(state, question):
    """A YES/NO question went out (handoff, stop or forget)."""
    state["confirm"] = question


def keep_more(state, intent, pages, followups, shown):
    """The rest of a long answer, for MORE."""
    state["more"] = {"intent": intent, "pages": pages, "followups": list(followups), "shown": shown}


def clear(state):
    """Nothing stays open (the patient opted out)."""
    for key in OPEN:
        state.pop(key, None)


def topic(state, now):
    """The topic last answered while it still gives context, else None."""
    last = state.get("topic")
    if not last or now - last["at"] > CONTEXT_SECONDS or last["since"] > CONTEXT_MESSAGES:
        return None
    return Topic(**last)


def answered(state, intent, now, pointed=""):
    """A reply about `intent` went out (`pointed`: how it stood in for the answer, see replies.Answer)."""
    state["topic"] = {"intent": intent, "at": now, "since": 0, "pointed": pointed}


def passed(state):
    """A reply about no topic went out: the last topic is one message further away."""
    if "topic" in state:
        state["topic"]["since"] += 1


def booking(state):
    """The booking under way ({"step", "form", "at"}), or None."""
    return state.get("booking")


def begin_booking(state, under_way):
    """A booking is under way (or went on a step): it takes the next messages until it is sent or cancelled."""
    state["booking"] = under_way


def end_booking(state):
    """The booking was sent or cancelled."""
    state.pop("booking", None)
