"""Assistant.respond: one inbound patient message in, the replies to send out. No Flask here."""

import dataclasses
import logging
import os
from dataclasses import dataclass

import redis

from bot import buttons, language, metrics
from bot.logs import mask
from bot.matcher import EMERGENCY
from bot.outbound import OPTED_OUT_CODES, SendError
from bot.replies import PENDING, Answer, Words, lay_out, numbered
from bot.safety import Alarm
from bot.store import LockTimeout
from intents import HANDLERS

log = logging.getLogger(__name__)

# Twilio refuses WhatsApp bodies over 1,600 characters, so a longer one is not a real patient message.
MAX_BODY = 1600
# Intents that lose something (no more messages): at once only on their exact command word, after a YES when guessed.
CONFIRM_FIRST = {"opt_out": "stop"}


@dataclass(frozen=True)
class Inbound:
    """A patient's message as Twilio delivered it; `sender` is Twilio's From, not assumed to be E.164."""

    sender: str
    body: str = ""
    message_sid: str = ""
    num_media: int = 0
    profile_name: str = ""
    button_payload: str = ""
    latitude: str = ""
    longitude: str = ""


@dataclass
class Turn:
    """What a handler works with: the message, its intent and curated reply, and the conversation."""

    inbound: Inbound
    intent: str
    reply: str
    # The conversation as the sender's turn read it, and what the message changes (store.Conversation): the one
    # way a handler writes, so that everything a message changes is written as its turn ends.
    conversation: object
    knowledge: object
    handoff: object = None

    @property
    def state(self):
        """The conversation's mutable state."""
        return self.conversation.state


class Assistant:
    """Answers patients from the knowledge file, keeping each conversation in the store."""

    def __init__(self, store, knowledge_file, settings, handoff, spool, outbound=None):
        self.store = store
        self.knowledge_file = knowledge_file
        self.settings = settings
        self.handoff = handoff
        self.spool = spool
        # Sends choices as WhatsApp buttons; None when no content template is configured.
        self.outbound = outbound

    def respond(self, inbound):
        """The replies to one inbound message; the conversation is saved before returning."""
        # Twilio always sends From; without it there is no one to answer or to remember.
        if not inbound.sender:
            return []
        # Messages kept on disk while Redis was down go into their transcripts first, so the order holds.
        self.spool.replay(self.recover, inbound.sender)
        # 1. Twilio retries what it thinks we missed, and other workers may have this sender's next message:
        #    each message is handled once, and one sender's messages one at a time, in the order they came.
        # 2. The conversation is read as the turn is taken, and what the message changes is written as it ends.
        with self.store.lock(inbound.sender, inbound.message_sid) as lock:
            # A retry of a message already handled: it is in the transcript, and Twilio wants no second answer.
            if lock.seen:
                metrics.DUPLICATES.inc()
                return []
            # A flood from one sender gets one polite notice, then silence until the window passes;
            # every message is still kept, and an emergency is still answered.
            if lock.count > self.settings.RATE_LIMIT and not self._emergency(inbound):
                return self._hold_back(inbound, lock)
            replies = self._converse(inbound, lock.conversation)
        # Alerts and a coordinator's held messages go out once the turn that set them going is written.
        self.handoff.turn_ended(inbound.sender, lock.conversation)
        return replies

    def _converse(self, inbound, conversation):
        """Steps 3 to 8 of the pipeline in DESIGN.md, under the sender's lock, on the conversation it read."""
        knowledge = self.knowledge_file.current()
        state = conversation.state
        language.choose(inbound.body, state, knowledge.hinglish_words)
        words = Words(knowledge, self.settings, state)
        answer = self._answer(inbound, conversation, words)
        metrics.INTENTS.labels(answer.intent or "none").inc()
        # Daily counts for the operations' activity view: messages, patients, the intent answered.
        conversation.count_message(answer.intent)
        if answer.erase:
            # The patient asked for their data to be erased: nothing of this exchange is kept either.
            conversation.erase()
            return answer.pages
        sent, replies = self._send(inbound.sender, answer, conversation, words)
        # Both sides go to the transcript and the state is saved, also when nothing was sent.
        conversation.append("patient", inbound.body, message_sid=inbound.message_sid,
                            intent=answer.intent, media=inbound.num_media or None)
        for text in sent:
            conversation.append("assistant", text)
        conversation.save(state)
        return replies

    def _answer(self, inbound, conversation, words):
        """What to say, in order of precedence (DESIGN.md, the flow of one message)."""
        knowledge, state = words.knowledge, conversation.state
        body = inbound.body.strip()
        command = knowledge.command(body)
        # Misses count only in a row: any message that is not one ends the run.
        misses = state.pop("misses", 0)
        # Safety beats every mode, opt-out included: the emergency advice, and the chat goes urgent to the top of the queue.
        # The bound keeps a huge message from stalling the check.
        alarm = knowledge.safety.alarm(body[:MAX_BODY])
        if alarm:
            return self._emergency_answer(alarm, inbound, conversation, words)
        # An opted-out patient gets nothing until they write START (an emergency, above, is still answered).
        if conversation.opted_out:
            if command == "start":
                conversation.opt_in()
                return Answer(None, [words.message("opted_in")])
            return Answer(None)
        # STOP works in every mode; it is confirmed once, and after that nothing is sent.
        if command == "stop":
            return self._run("opt_out", inbound, conversation, words)
        # Human mode: while a coordinator is awaited or writing, the assistant is silent; the console shows the message.
        if conversation.chat:
            return Answer(None, self.handoff.patient_wrote(conversation, command, words))
        # Media, locations, empty and oversized messages: say what can be read instead of guessing.
        unreadable = self._unreadable(inbound, body)
        if unreadable:
            return Answer(None, [words.message(unreadable)])
        # A pending list, long answer or question takes the reply to it: a number, a button, MORE, YES or NO;
        # anything else sets the question aside and is read as a new message.
        pending = {key: state.pop(key) for key in PENDING if key in state}
        answer = self._pending(inbound, body, command, pending, conversation, words)
        if answer:
            return answer
        # Fixed words (MENU, START, HINDI, ENGLISH, delete my data) mean the same at any time.
        answer = self._command(command, inbound, conversation, words)
        if answer:
            return answer
        # Everything else is matched to an intent; too far from every one gets the fallback.
        match = knowledge.matcher.match(body)
        # Two topics nearly tied (or a harmful-if-wrong topic not clearly ahead): ask; a digit then picks one.
        options = match.options(self.settings.CLARIFY_MARGIN)
        if options:
            # Kept for operations too: a phrase or two in the file would settle such questions.
            conversation.keep_unanswered(body)
            state["choices"] = list(options)
            return Answer(None, [words.message("clarify", options=numbered("", words.choices(options)))])
        # Nothing destructive from a guess: "please send me the brochure" must never stop the messages.
        if match.intent in CONFIRM_FIRST:
            state["confirm"] = CONFIRM_FIRST[match.intent]
            return Answer(None, [words.message(f"{CONFIRM_FIRST[match.intent]}_confirm")])
        if match.intent is None:
            # Kept for operations, who add the phrases (or topics) that patients use and the file lacks.
            conversation.keep_unanswered(body)
            metrics.FALLBACKS.inc()
            # The second miss in a row offers a person rather than the same fallback again.
            if misses + 1 >= 2:
                state["confirm"] = "handoff"
                return Answer(None, [words.message("handoff_offer")])
            state["misses"] = misses + 1
            return Answer(None, [words.message("fallback")])
        return self._run(match.intent, inbound, conversation, words)

    def _emergency_answer(self, alarm, inbound, conversation, words):
        """The emergency reply (with the mental-health helpline for thoughts of self-harm); the chat goes urgent to the queue."""
        self.handoff.escalate(inbound, conversation, "emergency", urgent=True)
        # The patient hears when a person will answer: soon in office hours, from the next opening outside them.
        when = self.handoff.emergency_followup(words)
        if alarm.helpline:
            return Answer("emergency", [words.message("self_harm", when_answered=when)])
        return Answer("emergency", [words.render(page, when_answered=when) for page in words.pages("emergency")])

    def _unreadable(self, inbound, body):
        """The message explaining what the assistant cannot read in this message, or None."""
        if inbound.latitude or inbound.longitude:
            return "location"
        # A caption is text, so an image with one is answered by its caption.
        if not body and inbound.num_media:
            return "media"
        if not any(ch.isalnum() for ch in body):
            return "empty"
        if len(body) > MAX_BODY:
            return "too_long"
        return None

    def _pending(self, inbound, body, command, pending, conversation, words):
        """The answer when the message replies to what the last reply left pending, else None."""
        # A tapped button carries its topic's id, so buttons of an older message still mean that topic.
        if inbound.button_payload in words.knowledge.intents:
            return self._run(inbound.button_payload, inbound, conversation, words)
        if _is_choice(body):
            intent = _pick(body, pending.get("choices"), words.knowledge.intents)
            # A number with no list (or not on it) would match at random: show the menu instead.
            return self._run(intent, inbound, conversation, words) if intent else Answer(None, [words.message("unknown_choice")])
        if command == "more":
            more = pending.get("more")
            if more is None:
                return Answer(None, [words.message("nothing_more")])
            return Answer(more["intent"], more["pages"], tuple(more["followups"]), shown=more["shown"])
        # YES to the offer of a coordinator (made after two misses) puts the chat in the queue.
        if pending.get("confirm") == "handoff" and command == "yes":
            self.handoff.escalate(inbound, conversation, "offer")
            return Answer("human_handoff", [self.handoff.waiting_message(words)])
        if pending.get("confirm") == "stop" and command == "yes":
            return self._run("opt_out", inbound, conversation, words)
        if pending.get("confirm") == "forget" and command == "yes":
            return Answer(None, [words.message("forgotten")], erase=True)
        if pending.get("confirm") == "forget" and command in ("no", "cancel"):
            return Answer(None, [words.message("forget_kept")])
        return None

    def _command(self, command, inbound, conversation, words):
        """The answer to a fixed word, else None (YES or NO with nothing pending are matched like any text)."""
        if command == "menu":
            return Answer(None, [words.message("menu")])
        if command == "start":
            return self._run("greeting", inbound, conversation, words)
        if command in ("hindi", "english"):
            conversation.state.update(lang="hi" if command == "hindi" else "en", lang_chosen=True)
            return Answer(None, [words.message("language_set")])
        if command == "forget":
            conversation.state["confirm"] = "forget"
            return Answer(None, [words.message("forget_confirm")])
        return None

    def _run(self, intent_id, inbound, conversation, words):
        """The intent's handler when it has one, otherwise its curated reply and follow-ups."""
        # However it was reached (a button, a list), the emergency reply always goes with an urgent chat.
        if intent_id == EMERGENCY:
            return self._emergency_answer(Alarm(EMERGENCY), inbound, conversation, words)
        handler = HANDLERS.get(intent_id)
        pages = words.pages(intent_id)
        if handler is None:
            return Answer(intent_id, pages, words.knowledge.intents[intent_id].followups)
        turn = Turn(inbound, intent_id, pages[0], conversation, words.knowledge, handoff=self.handoff)
        return Answer(intent_id, handler(turn))

    def _send(self, sender, answer, conversation, words):
        """Lay the answer out as one message and deliver it; returns (texts for the transcript, TwiML replies)."""
        if not answer.pages:
            return [], []
        state = conversation.state
        message = lay_out(answer, words, state, self._welcome(answer, conversation, words))
        if message.choices:
            state["choices"] = [intent_id for intent_id, _ in message.choices]
        return self._deliver(sender, message, conversation, words)

    def _welcome(self, answer, conversation, words):
        """The welcome notice on first contact (or after it changed), recorded as seen; else None."""
        version = words.knowledge.notice_version
        # Never in front of emergency advice, never to a patient who opted out (the STOP confirmation is their last message).
        if answer.intent in ("emergency", "opt_out") or conversation.opted_out or conversation.notice == version:
            return None
        conversation.record_notice(version)
        return words.message("welcome")

    def _deliver(self, sender, message, conversation, words):
        """Choices as buttons through Twilio's REST API when a template fits, else the text for the webhook's answer.

        A welcome that did not fit with the answer goes after it, as a message of its own in the webhook's answer.
        """
        text = message.as_text()
        notice = [message.notice] if message.notice else []
        template = buttons.template(message, self.settings, words.message("list_button")) if self.outbound else None
        if template is None:
            return [text] + notice, [text] + notice
        try:
            self.outbound.send(sender, content_sid=template[0], variables=template[1])
        except SendError as error:
            if error.code in OPTED_OUT_CODES:
                conversation.opt_out()
                return [], []
            # The buttons did not go out; the same words as text in the webhook's answer still reach the patient.
            return [text] + notice, [text] + notice
        return [text] + notice, notice

    def _emergency(self, inbound):
        """True for a message that describes an emergency (a body too long to be a patient's never does)."""
        body = inbound.body.strip()
        return len(body) <= MAX_BODY and bool(self.knowledge_file.current().safety.alarm(body))

    def _hold_back(self, inbound, lock):
        """Keep a message over the rate limit unanswered (a full transcript counts it); the first one gets the notice."""
        conversation = lock.conversation
        conversation.append_over_limit(inbound.body, message_sid=inbound.message_sid,
                                       media=inbound.num_media or None, unanswered="rate_limited")
        metrics.RATE_LIMITED.inc()
        if lock.count != self.settings.RATE_LIMIT + 1:
            return []
        log.warning("sender went over the rate limit", extra={
            "sender": mask(inbound.sender), "limit": self.settings.RATE_LIMIT, "window_s": self.settings.RATE_WINDOW})
        # The coordinators see from where the assistant stopped answering, and for how long.
        conversation.append("event", "", event="rate_limited", limit=self.settings.RATE_LIMIT,
                            window_s=self.settings.RATE_WINDOW)
        # In the language of the conversation, like every other reply.
        notice = Words(self.knowledge_file.current(), self.settings, conversation.state).message("rate_limited")
        conversation.append("assistant", notice)
        return [notice]

    def apology(self):
        """What to say when something failed while answering."""
        return Words(self.knowledge_file.current(), self.settings, {}).message("unavailable")

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
                # The patient had the emergency numbers in the apology; a coordinator must still see it at once.
                if self._emergency(inbound):
                    self.handoff.emergency_unanswered(inbound)
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

    def recover(self, kept):
        """A message kept on disk during an outage into its transcript, as received; an emergency goes urgent to the queue.

        The patient had the apology with the emergency numbers then; now a coordinator must see it at once.
        """
        inbound = Inbound(sender=kept["sender"], body=kept["body"], message_sid=kept["sid"], num_media=kept["media"])
        with self.store.lock(inbound.sender, inbound.message_sid) as lock:
            if lock.seen:
                return
            conversation = lock.conversation
            conversation.append("patient", inbound.body, message_sid=inbound.message_sid, media=inbound.num_media or None,
                                unanswered="redis", at=kept["at"])
            if self.knowledge_file.current().safety.alarm(inbound.body[:MAX_BODY]):
                self.handoff.escalate(inbound, conversation, "emergency", urgent=True)
        self.handoff.turn_ended(inbound.sender, conversation)

    def check(self):
        """What /readyz reports: Redis answers, the knowledge is loaded, and how many messages wait on disk."""
        report = {"ready": True, "redis": "ok", "knowledge": "ok"}
        try:
            self.store.ping()
            self.spool.replay(self.recover)
        except redis.RedisError as exc:
            report.update(ready=False, redis=f"unavailable ({type(exc).__name__})")
            self.store.recover()
        # Which version this process serves: every process of every host shows the same within seconds of an edit.
        report["knowledge_version"] = self.knowledge_file.version
        if self.knowledge_file.error:
            report["knowledge"] = "ok; the latest edit of the file was refused, the last good version is in use"
            # Where and why, without the server's folders.
            report["knowledge_refused"] = [str(dataclasses.replace(p, path=os.path.basename(p.path)))
                                           for p in self.knowledge_file.error.problems[:10]]
        report["kept_on_disk"] = self.spool.waiting()
        return report



def _is_choice(body):
    """True for a bare list number such as "2", "2." or "2)" (in any script's digits)."""
    return body.strip().rstrip(".)").isdecimal()


def _pick(body, choices, intents):
    """The intent a number selects from the pending list, or None (also when an edit removed that intent)."""
    number = int(body.strip().rstrip(".)"))
    if choices and 1 <= number <= len(choices) and choices[number - 1] in intents:
        return choices[number - 1]
    return None
