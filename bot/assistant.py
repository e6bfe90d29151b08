"""Assistant.respond: one inbound patient message in, the replies to send out. No Flask here."""

import logging
from dataclasses import dataclass, field

import redis

from bot import metrics
from bot.logs import mask
from bot.store import LockTimeout
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

    def __init__(self, store, knowledge_file, settings, spool):
        self.store = store
        self.knowledge_file = knowledge_file
        self.settings = settings
        self.spool = spool

    def respond(self, inbound):
        """The replies to one inbound message; the conversation is saved before returning."""
        # Twilio always sends From; without it there is no one to answer or to remember.
        if not inbound.sender:
            return []
        # Messages kept on disk while Redis was down go into their transcripts first, so the order holds.
        self.spool.replay(self.store)
        # 1. Twilio retries what it thinks we missed, and other workers may have this sender's next message:
        #    each message is handled once, and one sender's messages one at a time, in the order they came.
        with self.store.lock(inbound.sender, inbound.message_sid) as lock:
            # A retry of a message already handled: it is in the transcript, and Twilio wants no second answer.
            if lock.seen:
                metrics.DUPLICATES.inc()
                return []
            # A flood from one sender gets one polite notice, then silence until the window passes;
            # every message is still kept, and an emergency is still answered.
            if lock.count > self.settings.RATE_LIMIT and not self._emergency(inbound):
                return self._hold_back(inbound, lock.count)
            return self._converse(inbound)

    def _converse(self, inbound):
        """Steps 2 to 8 of the pipeline in DESIGN.md, under the sender's lock."""
        knowledge = self.knowledge_file.current()
        state = self.store.load(inbound.sender)
        intent, replies = self._answer(inbound, state, knowledge)
        metrics.INTENTS.labels(intent or "none").inc()
        self.store.append(inbound.sender, "patient", inbound.body, message_sid=inbound.message_sid,
                          intent=intent, media=inbound.num_media or None)
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
        if match.intent is None:
            metrics.FALLBACKS.inc()
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

    def _emergency(self, inbound):
        """True for a message that describes an emergency (a body too long to be a patient's never does)."""
        body = inbound.body.strip()
        return len(body) <= MAX_BODY and self.knowledge_file.current().matcher.emergency(body)

    def _hold_back(self, inbound, count):
        """Keep a message over the rate limit without answering it; the first one over gets the notice."""
        self.store.append(inbound.sender, "patient", inbound.body, message_sid=inbound.message_sid,
                          media=inbound.num_media or None, unanswered="rate_limited")
        metrics.RATE_LIMITED.inc()
        if count != self.settings.RATE_LIMIT + 1:
            return []
        log.warning("sender went over the rate limit", extra={
            "sender": mask(inbound.sender), "limit": self.settings.RATE_LIMIT, "window_s": self.settings.RATE_WINDOW})
        knowledge = self.knowledge_file.current()
        notice = self.render(knowledge.message("rate_limited"), knowledge)
        self.store.append(inbound.sender, "assistant", notice)
        return [notice]

    def apology(self):
        """What to say when something failed while answering."""
        knowledge = self.knowledge_file.current()
        return self.render(knowledge.message("unavailable"), knowledge)

    def keep(self, inbound, error):
        """After `error` stopped an answer: log it, and keep the message (on disk while Redis is down).

        The message goes into the transcript marked unanswered, with the apology the patient gets,
        so a coordinator sees it; returns the reason (redis, busy or error), also counted in metrics.
        """
        who = mask(inbound.sender)
        outage = isinstance(error, (redis.ConnectionError, redis.TimeoutError))
        if isinstance(error, LockTimeout):
            reason = "busy"  # the store has logged the wait
        elif outage:
            reason = "redis"
            log.error("Redis is unavailable; answering with an apology",
                      extra={"sender": who, "error": type(error).__name__})
        else:
            reason = "error"
            log.error("could not answer a message", exc_info=error, extra={"sender": who})
        metrics.UNANSWERED.labels(reason).inc()
        if not inbound.sender:
            return reason
        # Trying Redis again after it just failed would only make the patient wait for a second timeout.
        if not outage:
            try:
                self.store.append(inbound.sender, "patient", inbound.body, message_sid=inbound.message_sid,
                                  media=inbound.num_media or None, unanswered=reason)
                self.store.append(inbound.sender, "assistant", self.apology())
                return reason
            except redis.RedisError:
                pass
        self.store.recover()
        try:
            self.spool.keep(inbound)
        except OSError as exc:
            log.critical("could not keep a message on disk either; it is lost",
                         extra={"sender": who, "error": type(exc).__name__})
        return reason

    def check(self):
        """What /readyz reports: Redis answers, the knowledge is loaded, and how many messages wait on disk."""
        report = {"ready": True, "redis": "ok", "knowledge": "ok"}
        try:
            self.store.ping()
            self.spool.replay(self.store)
        except redis.RedisError as exc:
            report.update(ready=False, redis=f"unavailable ({type(exc).__name__})")
            self.store.recover()
        if self.knowledge_file.error:
            report["knowledge"] = "ok; the latest edit of the file was refused, the last good version is in use"
        report["kept_on_disk"] = self.spool.waiting()
        return report

    def render(self, text, knowledge):
        """Fill the placeholders the knowledge file may use."""
        return (
            text.replace("{emergency_numbers}", self.settings.EMERGENCY_NUMBERS)
            .replace("{menu}", menu_text(knowledge))
        )


def menu_text(knowledge):
    """The numbered topic list."""
    lines = [knowledge.message("menu_header")]
    lines += [f"{n}. {knowledge.intents[i].title}" for n, i in enumerate(knowledge.menu, 1)]
    return "\n".join(lines)


def _is_choice(body):
    """True for a bare list number such as "2", "2." or "2)"."""
    # isdecimal, not isdigit: "²" is a digit that int() cannot read; "२" (Devanagari two) is decimal and reads as 2.
    return body.strip().rstrip(".)").isdecimal()


def _pick(body, choices):
    """The intent a number selects from the pending list, or None."""
    number = int(body.strip().rstrip(".)"))
    if choices and 1 <= number <= len(choices):
        return choices[number - 1]
    return None
