"""What a loaded file gives: Knowledge and its Intents, or an Engine; and the matchers they share."""

import datetime
import hashlib
import weakref
from dataclasses import dataclass
from types import MappingProxyType

from bot import safety as red_flags
from bot.listening import Listening
from bot.matcher import EMERGENCY, Match, Matcher
from bot.spelling import normalise


@dataclass(frozen=True)
class Intent:
    """One topic: its example phrases, and its title and reply pages per language."""

    id: str
    titles: MappingProxyType
    phrases: tuple
    pages: MappingProxyType
    followups: tuple = ()
    # Clinical governance: where the facts come from, and who checked the reply and when (None until reviewed).
    source: str | None = None
    reviewed_by: str | None = None
    reviewed_on: datetime.date | None = None

    @property
    def title(self):
        """The English title."""
        return self.titles["en"]

    @property
    def reply(self):
        """The English reply's first page."""
        return self.pages["en"][0]


@dataclass(frozen=True)
class Knowledge:
    """Everything the assistant knows and says, as loaded from one version of the file."""

    path: str
    intents: MappingProxyType
    menu: tuple
    messages: MappingProxyType
    matcher: Matcher
    # The red flags (safety.yaml): checked before any topic.
    safety: red_flags.Safety
    commands: MappingProxyType
    hinglish_words: frozenset
    notice_version: str
    coordinator_replies: tuple
    # How a message leans on the conversation (language/conversation.yaml).
    listening: Listening = Listening()

    def message(self, name, lang="en"):
        """A message in `lang`, or in English when it has no translation."""
        texts = self.messages[name]
        return texts.get(lang) or texts["en"]

    def pages(self, intent_id, lang="en"):
        """An intent's reply pages in `lang`, or in English when it has no translation."""
        pages = self.intents[intent_id].pages
        return pages.get(lang) or pages["en"]

    def title(self, intent_id, lang="en"):
        """An intent's menu title in `lang`, or in English."""
        titles = self.intents[intent_id].titles
        return titles.get(lang) or titles["en"]

    def command(self, text):
        """The command a whole message is (e.g. "more", "stop"), or None."""
        return self.commands.get(normalise(text))

    def match(self, text):
        """How the assistant reads a message: a red flag first (the emergency path), otherwise its topic."""
        if self.safety.alarm(text):
            return Match(EMERGENCY, 100.0, EMERGENCY)
        return self.matcher.match(text)


@dataclass(frozen=True)
class Engine:
    """The matcher of any knowledge file, and the red flags when its intents include the emergency one."""

    path: str
    matcher: Matcher
    safety: object = None

    def match(self, text):
        """A red flag first (where there are red flags), otherwise the topic."""
        if self.safety is not None and self.safety.alarm(text):
            return Match(EMERGENCY, 100.0, EMERGENCY)
        return self.matcher.match(text)


# Matchers built from the same phrases and rules, while anything still uses them: each process trains a model
# once per version of the knowledge, however often it is loaded (the command line's checks, the tests). Weakly
# held, so a version no longer used is freed.
_MATCHERS = weakref.WeakValueDictionary()


def _matcher(phrases_by_intent, rules, learn):
    """The Matcher of these phrases and rules: one already built, or a new one."""
    key = hashlib.sha256(repr((sorted(phrases_by_intent.items()), rules, learn)).encode()).hexdigest()
    matcher = _MATCHERS.get(key)
    if matcher is None:
        matcher = _MATCHERS[key] = Matcher(phrases_by_intent, rules, learn=learn)
    return matcher
