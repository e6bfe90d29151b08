"""Assistant.respond: one inbound patient message in, the replies to send out. No Flask here."""

import logging
from dataclasses import dataclass, field

from intents import HANDLERS

log = logging.getLogger(__name__)

# Twilio refuses WhatsApp bodies over 1,600 characters, so a longer one is not a real patient message.
MAX_BODY = 1600


@dataclass(frozen=True)
class Inbound:
    """A patient's message as Twilio delivered it; `sender` is Twilio's From, not assumed to be E.164."""

    sender: str
    body: str = ""
    message_sid: str = ""
    num_media: int = 0
    media_types: tuple = ()
    profile_name: str = ""
    wa_id: str = ""
    button_payload: str = ""
    button_text: str = ""


@dataclass
class Turn:
    """What a handler works with: the message, its intent and curated reply, and the mutable state."""

    inbound: Inbound
    intent: str
    reply: str
    state: dict
    store: object
    knowledge: object
    notes: dict = field(default_factory=dict)


class Assistant:
    """Answers patients from the knowledge file, keeping each conversation in the store."""

    def __init__(self, store, knowledge_file, settings):
        self.store = store
        self.knowledge_file = knowledge_file
        self.settings = settings

    def respond(self, inbound):
        """The replies to one inbound message; the conversation is saved before returning."""
        # Twilio always sends From; without it there is no one to answer or to remember.
        if not inbound.sender:
            return []
        knowledge = self.knowledge_file.current()
        state = self.store.load(inbound.sender)
        intent, replies = self._answer(inbound, state, knowledge)
        self.store.append(inbound.sender, "patient", inbound.body, intent=intent, media=inbound.num_media or None)
        for text in replies:
            self.store.append(inbound.sender, "assistant", text)
        self.store.save(inbound.sender, state)
        return replies

    def _answer(self, inbound, state, knowledge):
        """Pick the intent and the replies, in order of precedence; returns (intent id or None, replies)."""
        body = inbound.button_payload or inbound.body.strip()
        # Media without a caption: we can read only text, so say so instead of guessing.
        if not body and inbound.num_media:
            return None, [self.render(knowledge.message("media"), knowledge)]
        # Nothing readable (empty, emoji or control characters only): ask for words.
        if not any(ch.isalnum() for ch in body):
            return None, [self.render(knowledge.message("empty"), knowledge)]
        if len(body) > MAX_BODY:
            return None, [self.render(knowledge.message("too_long"), knowledge)]

        # A numbered list (menu, follow-ups, "did you mean") is answered once; a number picks from it.
        choices = state.pop("choices", None)
        if _is_choice(body):
            # A number with nothing (or nothing that big) pending would match at random: show the menu.
            intent = _pick(body, choices) or "greeting"
            return intent, self._run(intent, inbound, state, knowledge)

        match = knowledge.matcher.match(body)
        # Two topics nearly tied (or a harmful-if-wrong topic not clearly ahead): ask, a digit then picks one.
        options = match.options(self.settings.CLARIFY_MARGIN)
        if options:
            state["choices"] = list(options)
            return None, [self.render(knowledge.message("clarify"), knowledge, options)]
        if match.intent is None:
            return None, [self.render(knowledge.message("fallback"), knowledge)]
        return match.intent, self._run(match.intent, inbound, state, knowledge)

    def _run(self, intent_id, inbound, state, knowledge):
        """The intent's handler when it has one, otherwise its curated reply."""
        reply = self.render(knowledge.intents[intent_id].reply, knowledge)
        handler = HANDLERS.get(intent_id)
        if handler is None:
            return [reply]
        turn = Turn(inbound, intent_id, reply, state, self.store, knowledge)
        return handler(turn)

    def apology(self):
        """What to say when something failed while answering."""
        knowledge = self.knowledge_file.current()
        return self.render(knowledge.message("unavailable"), knowledge)

    def render(self, text, knowledge, options=()):
        """Fill the placeholders the knowledge file may use."""
        return (
            text.replace("{emergency_numbers}", self.settings.EMERGENCY_NUMBERS)
            .replace("{menu}", menu_text(knowledge))
            .replace("{options}", numbered(knowledge, options))
        )


def menu_text(knowledge):
    """The numbered topic list."""
    return knowledge.message("menu_header") + "\n" + numbered(knowledge, knowledge.menu)


def numbered(knowledge, intent_ids):
    """The intents' titles as a numbered list, in the order a digit picks them."""
    return "\n".join(f"{n}. {knowledge.intents[i].title}" for n, i in enumerate(intent_ids, 1))


def _is_choice(body):
    """True for a bare list number such as "2", "2." or "2)"."""
    return body.strip().rstrip(".)").isdigit()


def _pick(body, choices):
    """The intent a number selects from the pending list, or None."""
    number = int(body.strip().rstrip(".)"))
    if choices and 1 <= number <= len(choices):
        return choices[number - 1]
    return None
