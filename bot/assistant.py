"""Assistant.respond: one inbound patient message in, the replies to send out. No Flask here."""

import logging
import time
from dataclasses import dataclass

from bot import booking, buttons, language, listening, metrics, pending, replies, signoff
from bot.inbound import MAX_BODY, Inbound
from bot.matcher import EMERGENCY
from bot.outbound import OPTED_OUT_CODES, SendError
from bot.recovery import Recovery
from bot.replies import Answer, Words, lay_out, numbered
from bot.safety import Alarm
from intents import HANDLERS

log = logging.getLogger(__name__)

# Intents that lose something (no more messages): at once only on their exact command word, after a YES when guessed.
CONFIRM_FIRST = {"opt_out": "stop"}
# What to say to a message, in this order: the first step with an answer gives it (Assistant's methods).
STEPS = (
    "_red_flag",          # the emergency advice, in every mode (opt-out included); the chat urgent to the queue
    "_opted_out",         # silence until START
    "_stop",              # STOP in every mode, confirmed once
    "_with_coordinator",  # silence while a coordinator is awaited or writing; CANCEL leaves the queue
    "_unreadable",        # media, a location, an empty or oversized message
    "_booking",           # the answer to the booking's question (bot/booking.py); a question meanwhile is answered
    "_reply_to_pending",  # a number, a button, MORE, YES or NO to what the last reply left open (bot/pending.py)
    "_command",           # MENU, START, HINDI, ENGLISH, delete my data: the same at any time
    "_matched",           # the intent (as a listener answers it); a question when two are close; the fallback
)


@dataclass
class Turn:
    """What a handler works with: the message, its intent and curated reply, the conversation and its wording."""

    inbound: Inbound
    intent: str
    reply: str
    # The conversation as the sender's turn read it, and what the message changes (store.Conversation): the one
    # way a handler writes, so that everything a message changes is written as its turn ends.
    conversation: object
    words: Words
    handoff: object = None

    @property
    def state(self):
        """The conversation's mutable state."""
        return self.conversation.state


@dataclass(frozen=True)
class Reading:
    """One message as the steps read it: its text, the fixed word it is (if any), the conversation and its wording."""

    inbound: Inbound
    body: str
    command: str | None
    conversation: object
    words: Words
    # Fallbacks in a row before this message.
    misses: int
    # The topic last answered while it gives this message context (pending.Topic), else None.
    topic: object = None

    @property
    def state(self):
        """The conversation's mutable state."""
        return self.conversation.state


class Assistant(Recovery):
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
            lock.conversation.know_as(inbound.profile_name)
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
        # Held with no coordinator to send it (a consultation's reminder past the window): it goes now, once.
        if conversation.held and (conversation.chat or {}).get("status") != "claimed":
            conversation.take_held()
        # The topic answered gives the next messages their context; any other reply moves it one message away.
        if answer.intent and answer.pages:
            pending.answered(state, answer.intent, time.time(), answer.pointed)
        else:
            pending.passed(state)
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
        """What to say: the answer of the first step in STEPS that has one."""
        body = inbound.body.strip()
        state = conversation.state
        reading = Reading(inbound, body, words.knowledge.command(body), conversation, words,
                          pending.take_misses(state), pending.topic(state, time.time()))
        for step in STEPS:
            answer = getattr(self, step)(reading)
            if answer is not None:
                return answer
        raise AssertionError("the last step always answers")

    def _red_flag(self, reading):
        """A red flag: the emergency advice, and the chat goes urgent to the top of the queue."""
        # The bound keeps a huge message from stalling the check.
        alarm = reading.words.knowledge.safety.alarm(reading.body[:MAX_BODY])
        if alarm and not alarm.helpline and _just_answered(reading, EMERGENCY, pointed=""):
            # The emergency reply is just above: what to do while help comes, not the same text again.
            self.handoff.escalate(reading.inbound, reading.conversation, "emergency", urgent=True)
            return self._while_waiting(reading)
        return self._emergency_answer(alarm, reading) if alarm else None

    def _opted_out(self, reading):
        """An opted-out patient gets nothing until they write START."""
        if not reading.conversation.opted_out:
            return None
        if reading.command == "start":
            reading.conversation.opt_in()
            return Answer(None, [reading.words.message("opted_in")])
        return Answer(None)

    def _stop(self, reading):
        """STOP, confirmed once; after that nothing is sent."""
        return self._run("opt_out", reading) if reading.command == "stop" else None

    def _with_coordinator(self, reading):
        """While a coordinator is awaited or writing, the assistant is silent (CANCEL aside); the console shows the message."""
        chat = reading.conversation.chat
        if not chat:
            return None
        # Right after the emergency reply, a patient still waiting for help hears what to do meanwhile, once.
        if chat["status"] == "waiting" and reading.command != "cancel" and _just_answered(reading, EMERGENCY, pointed=""):
            return self._while_waiting(reading)
        return Answer(None, self.handoff.patient_wrote(reading.conversation, reading.command, reading.words))

    def _unreadable(self, reading):
        """Media, a location, an empty or oversized message: say what can be read instead of guessing."""
        inbound, body = reading.inbound, reading.body
        if inbound.latitude or inbound.longitude:
            name = "location"
        # A caption is text, so an image with one is answered by its caption.
        elif not body and inbound.num_media:
            name = "media"
        elif not any(ch.isalnum() for ch in body):
            name = "empty"
        elif len(body) > MAX_BODY:
            name = "too_long"
        else:
            return None
        return Answer(None, [reading.words.message(name)])

    def _booking(self, reading):
        """A booking under way takes the answer to its question; a question of another topic is answered first."""
        under_way = pending.booking(reading.state)
        if under_way is None:
            return None
        pending.take(reading.state)

        def topic_answer(intent):
            # Nothing destructive from a guess, here too: "don't send me these anymore?" is asked again, never acted on.
            return None if intent in CONFIRM_FIRST else self._as_listener(intent, reading)
        return booking.reply(reading, under_way, topic_answer, self.handoff)

    def _reply_to_pending(self, reading):
        """A number, a button, MORE, YES or NO answers what the last reply left open; anything else sets it aside."""
        left_open, command, knowledge = pending.take(reading.state), reading.command, reading.words.knowledge
        # A tapped button carries its topic's id, so buttons of an older message still mean that topic.
        if reading.inbound.button_payload in knowledge.intents:
            return self._run(reading.inbound.button_payload, reading)
        if _is_choice(reading.body):
            intent = _pick(reading.body, left_open.choices, knowledge.intents)
            # A number with no list (or not on it) would match at random: show the menu instead.
            return self._run(intent, reading) if intent else Answer(None, [reading.words.message("unknown_choice")])
        if command == "more" or knowledge.listening.asks_for_more(reading.body):
            more = left_open.more
            if more is not None:
                return Answer(more["intent"], more["pages"], tuple(more["followups"]), shown=more["shown"])
            return replies.more_on(reading.topic, reading.words, reading.state)
        question = left_open.confirm
        # YES to the offer of a coordinator (made after two misses) puts the chat in the queue.
        if question == "handoff" and command == "yes":
            self.handoff.escalate(reading.inbound, reading.conversation, "offer")
            return Answer("human_handoff", [self.handoff.waiting_message(reading.words)])
        if question == "stop" and command == "yes":
            return self._run("opt_out", reading)
        if question == "forget" and command == "yes":
            return Answer(None, [reading.words.message("forgotten")], erase=True)
        if question == "forget" and command in ("no", "cancel"):
            return Answer(None, [reading.words.message("forget_kept")])
        return None

    def _command(self, reading):
        """A fixed word means the same at any time (YES or NO with nothing pending are matched like any text)."""
        command, words = reading.command, reading.words
        if command == "menu":
            return Answer(None, [words.message("menu")])
        if command == "start":
            return self._run("greeting", reading)
        if command in ("hindi", "english"):
            reading.state.update(lang="hi" if command == "hindi" else "en", lang_chosen=True)
            return Answer(None, [words.message("language_set")])
        if command == "forget":
            pending.ask(reading.state, "forget")
            return Answer(None, [words.message("forget_confirm")])
        return None

    def _matched(self, reading):
        """The intent the message matches; a question when two are close; the fallback, then a person, when none is."""
        body, state, words = reading.body, reading.state, reading.words
        match = words.knowledge.matcher.match(body)
        options = match.options(self.settings.CLARIFY_MARGIN)
        # Unclear alone: the topic just answered decides where the message allows it; two questions clear each alone.
        if match.intent is None or options:
            intent = listening.in_context(match, reading.topic)
            both = None if intent else listening.two_questions(body, words.knowledge.matcher)
            intent = intent or (both and both[0])
            if intent and intent not in CONFIRM_FIRST and intent not in HANDLERS:
                return self._as_listener(intent, reading, both)
        # Two topics nearly tied (or a harmful-if-wrong topic not clearly ahead): ask; a digit then picks one.
        if options:
            # Kept for operations too: a phrase or two in the file would settle such questions.
            reading.conversation.keep_unanswered(body)
            pending.offer(state, options)
            return Answer(None, [words.message("clarify", options=numbered("", words.choices(options)))])
        # Nothing destructive from a guess: "please send me the brochure" must never stop the messages.
        if match.intent in CONFIRM_FIRST:
            pending.ask(state, CONFIRM_FIRST[match.intent])
            return Answer(None, [words.message(f"{CONFIRM_FIRST[match.intent]}_confirm")])
        if match.intent is None:
            # Kept for operations, who add the phrases (or topics) that patients use and the file lacks.
            reading.conversation.keep_unanswered(body)
            metrics.FALLBACKS.inc()
            # The second miss in a row offers a person rather than the same fallback again.
            if reading.misses + 1 >= 2:
                pending.ask(state, "handoff")
                return Answer(None, [words.message("handoff_offer")])
            pending.missed(state, reading.misses + 1)
            return Answer(None, [words.message("fallback")])
        return self._as_listener(match.intent, reading)

    def _as_listener(self, intent, reading, both=None):
        """A topic's answer as one who listens gives it: not the same text twice in a row, the patient's own case
        acknowledged and left to the care team, a second question answered or offered (`both`: the message's two
        topics, when already read)."""
        words, knowledge = reading.words, reading.words.knowledge
        if intent in listening.SMALL_TALK or intent in HANDLERS:
            return self._run(intent, reading)
        if _just_answered(reading, intent, pointed=""):
            pointer = words.message("answered_above", topic=knowledge.title(intent, words.lang))
            answer = Answer(intent, [pointer], knowledge.intents[intent].followups, pointed="above")
            pending.ask(reading.state, "handoff")
        else:
            answer = self._run(intent, reading)
        if knowledge.listening.personal(reading.body):
            answer.pages[0] = f"{words.message('personal_case')}\n\n{answer.pages[0]}"
            pending.ask(reading.state, "handoff")
        second = both or listening.two_questions(reading.body, knowledge.matcher)
        if second and intent in second:
            replies.also(answer, second[1] if second[0] == intent else second[0], words, reading.state)
        return answer

    def _while_waiting(self, reading):
        """What to do while help comes, after the emergency reply."""
        when = self.handoff.emergency_followup(reading.words)
        return Answer(EMERGENCY, [reading.words.message("emergency_waiting", when_answered=when)], pointed="waiting")

    def _emergency_answer(self, alarm, reading):
        """The emergency reply (with the mental-health helpline for thoughts of self-harm); the chat goes urgent to the queue."""
        self.handoff.escalate(reading.inbound, reading.conversation, "emergency", urgent=True)
        # The patient hears when a person will answer: soon in office hours, from the next opening outside them.
        words = reading.words
        when = self.handoff.emergency_followup(words)
        if alarm.helpline:
            return Answer("emergency", [words.message("self_harm", when_answered=when)])
        return Answer("emergency", [words.render(page, when_answered=when) for page in words.pages("emergency")])

    def _run(self, intent_id, reading):
        """The intent's handler when it has one, otherwise its curated reply and follow-ups."""
        # However it was reached (a button, a list), the emergency reply always goes with an urgent chat.
        if intent_id == EMERGENCY:
            return self._emergency_answer(Alarm(EMERGENCY), reading)
        words = reading.words
        if signoff.held_back(words.knowledge.intents[intent_id], self.settings):
            pending.ask(reading.state, "handoff")  # YES puts the chat in the queue, as after two misses
            return Answer(None, [words.message("handoff_offer")])
        handler = HANDLERS.get(intent_id)
        pages = words.pages(intent_id)
        if handler is None:
            return Answer(intent_id, pages, words.knowledge.intents[intent_id].followups)
        turn = Turn(reading.inbound, intent_id, pages[0], reading.conversation, words, handoff=self.handoff)
        return Answer(intent_id, handler(turn))

    def _send(self, sender, answer, conversation, words):
        """Lay the answer out as one message and deliver it; returns (texts for the transcript, TwiML replies)."""
        if not answer.pages:
            return [], []
        state = conversation.state
        message = lay_out(answer, words, state, self._welcome(answer, conversation, words))
        if message.choices:
            pending.offer(state, [intent_id for intent_id, _ in message.choices])
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


def _is_choice(body):
    """True for a bare list number such as "2", "2." or "2)" (in any script's digits)."""
    return body.strip().rstrip(".)").isdecimal()


def _pick(body, choices, intents):
    """The intent a number selects from the pending list, or None (also when an edit removed that intent)."""
    number = int(body.strip().rstrip(".)"))
    if choices and 1 <= number <= len(choices) and choices[number - 1] in intents:
        return choices[number - 1]
    return None


def _just_answered(reading, intent, pointed=None):
    """True when the reply to the patient's previous message was about `intent` (and pointed or not, if given)."""
    topic = reading.topic
    return topic is not None and topic.intent == intent and topic.since == 0 and pointed in (None, topic.pointed)
