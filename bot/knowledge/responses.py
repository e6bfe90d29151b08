"""The fields of responses.yaml: what each must hold, checked and built into Knowledge."""

import datetime
import re
from types import MappingProxyType

from bot.knowledge.files import Fields, _dotted, did_you_mean
from bot.knowledge.language_files import language_listening, language_rules
from bot.knowledge.loaded import Intent, Knowledge, _matcher
from bot.matcher import EMERGENCY
from bot.spelling import normalise

REQUIRED_INTENTS = (
    "greeting", "about_therapy", "how_it_works", "benefits", "cancer_types", "side_effects",
    "manage_side_effects", "comparison", "administration", "duration", "what_to_expect", "research",
    "eligibility", "nutrition", "lifestyle", "costs", "insurance", "financial_assistance",
    "support_groups", "human_handoff", "emergency", "thanks_goodbye", "opt_out",
)
REQUIRED_MESSAGES = (
    "fallback", "clarify", "menu_header", "media", "too_long", "empty", "unavailable",
    "welcome", "menu", "followups_header", "more_hint", "nothing_more", "unknown_choice", "list_button",
    "location", "opted_in", "forget_confirm", "forgotten", "forget_kept", "language_set",
    "handoff_offer", "handoff_waiting", "handoff_after_hours", "handoff_claimed", "handoff_returned",
    "handoff_cancelled", "alert_new", "alert_urgent", "alert_again", "rate_limited", "stop_confirm", "self_harm",
    "emergency_in_hours", "emergency_after_hours", "more_on_topic", "answered_above", "personal_case", "also_asked",
    "emergency_waiting",
    # A coordinator books a consultation request (Handoff.book): the confirmation, and the reminder the day before.
    "booking_confirmed", "booking_reminder",
)
# The messages of booking the free consultation (bot/booking.py), required where the file has its intent.
BOOKING = "human_handoff.booking"
BOOKING_MESSAGES = ("booking_for_whom", "booking_self", "booking_relative", "booking_name", "booking_age", "booking_city",
                    "booking_cancer", "booking_reports", "booking_day", "booking_time", "booking_morning",
                    "booking_afternoon", "booking_evening", "booking_call", "booking_phone", "booking_video", "booking_yes",
                    "booking_no", "booking_not_given", "booking_summary", "booking_sent", "booking_callback_soon",
                    "booking_cancelled", "booking_again", "booking_resume")
# Replies that are not an answer (not understood, which topic?, a person offered, ...) are where a patient in
# trouble may stop reading: each must carry the emergency numbers, in every language.
NOT_ANSWERS = ("fallback", "clarify", "handoff_offer", "handoff_after_hours", "unknown_choice", "nothing_more",
               "media", "location", "too_long", "empty", "stop_confirm", "self_harm", "more_on_topic", "answered_above",
               "booking_sent", "booking_cancelled")
# What the emergency replies must say, whoever edits them: the numbers, and when a person will write.
MUST_SAY = {"emergency": ("emergency_numbers", "when_answered"), "emergency_waiting": ("emergency_numbers", "when_answered"),
            "self_harm": ("emergency_numbers", "mental_health_helpline", "when_answered")}
# Words with one fixed meaning, compared whole (capitals and punctuation ignored), never guessed at.
REQUIRED_COMMANDS = ("more", "menu", "stop", "start", "yes", "no", "hindi", "english", "forget", "cancel")
# Reply languages: English is required wherever there is wording; any other falls back to it.
LANGUAGES = ("en", "hi")
TOP_FIELDS = {
    "notice_version": "version of messages.welcome, recorded for each patient who saw it",
    "menu": "list of intent ids",
    "messages": "wording not tied to an intent",
    "commands": "fixed words: MORE, MENU, STOP, START, YES, NO, HINDI, ENGLISH, delete my data, cancel the wait",
    "hinglish_words": "words that mark a message in Latin letters as Hinglish",
    "coordinator_replies": "canned replies offered in the coordinators' console",
    "intents": "the topics",
}
INTENT_FIELDS = {
    "title": "short name for menus",
    "phrases": "example messages",
    "reply": "what the assistant answers: text, a list of pages, or either per language (en, hi)",
    "followups": "related intent ids offered after the reply",
    "source": "where the facts come from",
    "reviewed_by": "clinical reviewer",
    "reviewed_on": "date of review, YYYY-MM-DD",
}
MAX_REPLY = 1000
MAX_TITLE = 20
# Placeholders the app fills in; any other {word} in a reply is a typo an editor should hear about.
PLACEHOLDERS = {"menu", "options", "emergency_numbers", "page", "pages", "coordinator", "opens", "number", "waited", "console",
                "mental_health_helpline", "when_answered", "topic",
                # Booking the free consultation (bot/booking.py): the options, the answers, the request and its date.
                "booking_self", "booking_relative", "booking_morning", "booking_afternoon", "booking_evening",
                "booking_phone", "booking_video", "for_whom", "patient_name", "age", "city",
                "cancer", "reports", "day", "time", "call", "reference", "callback", "question", "when", "kind"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(text, **values):
    """Replace the {placeholders} given in `values`, leaving any other braces as they are."""
    return _PLACEHOLDER.sub(lambda found: str(values.get(found[1], found[0])), text)


class _Checker(Fields):
    """Builds Knowledge from parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self, path, lines, problems, learn=True):
        super().__init__(path, lines, problems)
        self.learn = learn
        # Each phrase (as the matcher sees it) and where it was first written: the same phrase twice is ambiguous.
        self.phrase_at = {}

    def build(self, data, required, handled=(), language=()):
        if not isinstance(data, dict):
            self.problem((), "the file must be a mapping with menu, messages and intents")
            return None
        if "matching" in data:
            self.problem(("matching",), "how patients' words are read is no longer part of this file: it lives in "
                                        "language/ (synonyms.yaml, reading.yaml, out_of_scope.yaml), kept by "
                                        "developers; remove the section here")
        self.unknown_keys({k: v for k, v in data.items() if k != "matching"}, (), TOP_FIELDS)
        intents = self.intents(data.get("intents"), required)
        for intent_id in handled:
            if intent_id not in intents:
                self.problem(("intents",), f"intents/ has a handler for '{intent_id}', but there is no intent "
                                           f"'{intent_id}': put the intent back (a developer removes handlers)")
        messages = self.messages(data.get("messages"), BOOKING_MESSAGES if BOOKING in intents else ())
        menu = self.references(data.get("menu"), ("menu",), intents)
        commands = self.commands(data.get("commands"))
        hinglish = self.words(data.get("hinglish_words"), ("hinglish_words",))
        version = data.get("notice_version")
        if not isinstance(version, (str, int, float)) or not str(version).strip():
            self.problem(("notice_version",), "must name the version of messages.welcome, e.g. 2025-06-01")
        canned = self.canned(data.get("coordinator_replies"))
        rules = language_rules(language, intents, self.problems)
        listening = language_listening(language, self.problems)
        if self.problems:
            return None
        return Knowledge(
            path=self.path,
            intents=MappingProxyType(intents),
            menu=tuple(menu),
            messages=MappingProxyType(messages),
            matcher=_matcher({i.id: i.phrases for i in intents.values()}, rules, self.learn),
            safety=None,
            commands=MappingProxyType(commands),
            hinglish_words=frozenset(normalise(w) for w in hinglish),
            notice_version=str(version).strip(),
            coordinator_replies=tuple(canned),
            listening=listening,
        )

    def intents(self, raw, required):
        if not isinstance(raw, dict) or not raw:
            self.problem(("intents",), "must list the intents, each under its id")
            return {}
        for missing in [i for i in required if i not in raw]:
            self.problem(("intents",), f"required intent '{missing}' is missing")
        intents = {}
        for intent_id, body in raw.items():
            at = ("intents", intent_id)
            if not isinstance(body, dict):
                self.problem(at, "must be a mapping with phrases and reply")
                continue
            self.unknown_keys(body, at, INTENT_FIELDS)
            phrases = self.phrases(body.get("phrases"), at + ("phrases",))
            pages = self.per_language(body.get("reply"), at + ("reply",), self.pages)
            titles = self.per_language(
                body.get("title") or str(intent_id).replace("_", " ").capitalize(), at + ("title",), self.title)
            intents[intent_id] = Intent(intent_id, MappingProxyType(titles), phrases, MappingProxyType(pages),
                                        tuple(body.get("followups") or ()), *self.review(body, at))
        for intent in intents.values():
            self.references(list(intent.followups), ("intents", intent.id, "followups"), intents)
        if EMERGENCY in intents:
            self.says(intents[EMERGENCY].pages, ("intents", EMERGENCY, "reply"), MUST_SAY[EMERGENCY],
                      "is the emergency reply and must give them")
        return intents

    def phrases(self, raw, at, unique=True):
        """The phrases of one intent; `unique`: a phrase written twice (here or under another intent) is a problem."""
        if not isinstance(raw, list) or not raw:
            self.problem(at, "needs at least one example phrase")
            return ()
        good = []
        for index, phrase in enumerate(raw):
            if isinstance(phrase, (int, float)) and not isinstance(phrase, bool):
                phrase = str(phrase)  # "112" or "1" are fine phrases; YAML reads them as numbers
            if not isinstance(phrase, str) or not normalise(phrase):
                self.problem(at + (index,), "each phrase must be text with at least one letter or digit")
                continue
            if unique:
                self.unique(phrase, at + (index,))
            good.append(phrase)
        return tuple(good)

    def unique(self, phrase, at):
        """A phrase under two intents (capitals and punctuation ignored) makes the answer a coin toss."""
        key = normalise(phrase)
        first = self.phrase_at.setdefault(key, at)
        if first == at:
            return
        where = f"line {self.lines[first]}" if first in self.lines else _dotted(first)
        if first[1] == at[1]:
            self.problem(at, f"'{phrase}' is already a phrase of this intent ({where}); keep one")
        else:
            self.problem(at, f"'{phrase}' is also a phrase of '{first[1]}' ({where}); keep it under one intent")

    def review(self, body, at):
        """(source, reviewed_by, reviewed_on): text, a name and a date, each optional until the clinic fills it in."""
        values = []
        for name in ("source", "reviewed_by"):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                self.problem(at + (name,), "must be text, or null while not known")
                value = None
            values.append(value.strip() if value else None)
        day = body.get("reviewed_on")
        if day is not None:
            try:
                day = datetime.datetime.strptime(str(day).strip(), "%Y-%m-%d").date()
            except ValueError:
                self.problem(at + ("reviewed_on",), f"'{day}' is not a date written YYYY-MM-DD (e.g. 2025-06-01); "
                                                    "leave it null until the review is done")
                day = None
        return (*values, day)

    def per_language(self, raw, at, check):
        """Text for English only, or a mapping {en: ..., hi: ...}; `check` reads each language's value."""
        if not isinstance(raw, dict):
            return {"en": check(raw, at)}
        for lang in raw:
            if lang not in LANGUAGES:
                self.problem(at + (lang,), f"unknown language '{lang}'; known: {', '.join(LANGUAGES)}")
        if "en" not in raw:
            self.problem(at, "needs the English text under 'en' (other languages fall back to it)")
        return {lang: check(value, at + (lang,)) for lang, value in raw.items() if lang in LANGUAGES}

    def pages(self, raw, at):
        """One text, or a list of pages sent one at a time (the patient replies MORE for the next)."""
        if isinstance(raw, list):
            if not raw:
                self.problem(at, "a list of pages needs at least one page")
            return tuple(self.text(page, at + (index,)) for index, page in enumerate(raw))
        return (self.text(raw, at),)

    def title(self, raw, at):
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TITLE:
            self.problem(at, f"must be text of at most {MAX_TITLE} characters (WhatsApp button limit)")
            return ""
        return raw.strip()

    def text(self, raw, at):
        if not isinstance(raw, str) or not raw.strip():
            self.problem(at, "must be non-empty text")
            return ""
        if len(raw) > MAX_REPLY:
            self.problem(at, f"is {len(raw)} characters; WhatsApp messages here must stay under {MAX_REPLY}")
        for name in set(re.findall(r"\{(\w*)\}", raw)) - PLACEHOLDERS:
            self.problem(at, f"unknown placeholder {{{name}}}; known: {', '.join(sorted(PLACEHOLDERS))}")
        return raw.strip()

    def messages(self, raw, needed=()):
        """The messages; `needed` are required besides REQUIRED_MESSAGES (those of a flow the file has)."""
        if not isinstance(raw, dict):
            self.problem(("messages",), f"must be a mapping with {', '.join(REQUIRED_MESSAGES)}")
            return {}
        for name in REQUIRED_MESSAGES + tuple(needed):
            if name not in raw:
                self.problem(("messages",), f"required message '{name}' is missing")
        # The list button's label is shown on a WhatsApp button, so it has a title's limit.
        messages = {name: MappingProxyType(self.per_language(
                        value, ("messages", name), self.title if name == "list_button" else self.text))
                    for name, value in raw.items()}
        for name in NOT_ANSWERS:
            self.says(messages.get(name, {}), ("messages", name), ("emergency_numbers",),
                      "is not an answer, so it must give the emergency numbers too")
        for name in ("self_harm", "emergency_waiting"):
            self.says(messages.get(name, {}), ("messages", name), MUST_SAY[name], "must give them")
        return messages

    def says(self, texts, at, placeholders, why):
        """Each language's text (all its pages) must hold every one of `placeholders`."""
        for lang, text in texts.items():
            text = "\n".join(text) if isinstance(text, tuple) else text
            for name in placeholders:
                if "{" + name + "}" not in text:
                    self.problem(at + (lang,), f"has no {{{name}}}: it {why} (see the placeholders at the top of the file)")

    def commands(self, raw):
        """{normalised phrase: command name}; a phrase under two commands would be ambiguous."""
        if not isinstance(raw, dict):
            self.problem(("commands",), f"must be a mapping with {', '.join(REQUIRED_COMMANDS)}")
            return {}
        self.unknown_keys(raw, ("commands",), {name: "" for name in REQUIRED_COMMANDS})
        for name in REQUIRED_COMMANDS:
            if name not in raw:
                self.problem(("commands",), f"required command '{name}' is missing")
        owner = {}
        for name in REQUIRED_COMMANDS:
            at = ("commands", name)
            for index, phrase in enumerate(self.words(raw.get(name), at)):
                key = normalise(phrase)
                if owner.get(key, name) != name:
                    self.problem(at + (index,), f"'{phrase}' is also under '{owner[key]}'; keep it in one")
                owner[key] = name
        return owner

    def canned(self, raw):
        """[(title, {lang: text})]: the console offers each text in the patient's language, else in English."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(("coordinator_replies",), "must be a list of replies, each with a title and a text")
            return []
        canned = []
        for index, item in enumerate(raw):
            at = ("coordinator_replies", index)
            if not isinstance(item, dict) or not isinstance(item.get("title"), str) or not item["title"].strip():
                self.problem(at, "needs a title (the button in the console) and a text")
                continue
            self.unknown_keys(item, at, {"title": "button label", "text": "the reply"})
            texts = self.per_language(item.get("text"), at + ("text",), self.text)
            canned.append((item["title"].strip(), MappingProxyType(texts)))
        return canned

    def references(self, raw, at, intents):
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(at, "must be a list of intent ids")
            return []
        for index, ref in enumerate(raw):
            if ref not in intents:
                advice = did_you_mean(ref, intents)
                self.problem(at + (index,), f"points at intent '{ref}', which does not exist"
                             + (f" ({advice})" if advice else ""))
        return raw
