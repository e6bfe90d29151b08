"""How a message leans on the conversation: asking for more, telling the patient's own case, asking two things at once.

The words are language/conversation.yaml's (owned by developers); the patterns for ages and stages are here.
"""

import re
from dataclasses import dataclass

from bot.spelling import normalise

# Topics of small talk: answered the same way however often they come.
SMALL_TALK = ("greeting", "thanks_goodbye")

# "68 years", "68 yrs", "68 saal", "age 68", "aged 68", "main 56 ka hu": an age told ("my son is 19": see personal).
_AGE = re.compile(r"\b(?:\d{1,3}\s*(?:years?|yrs?|yo|saal|sal|baras|ka|ki|ke)\b"
                  r"|(?:age|aged|umar|umr|umra)\s*(?:is\s*)?\d{1,3}\b)")
_IS = {"is", "am", "was", "hai", "hain"}
_CONTRACTED = {"hes", "shes", "im"}  # "he's 74", as read
# "stage 4", "stage iv", "4th stage", "stage four", "stage-3".
_STAGE = re.compile(r"\b(?:stage\s*-?\s*(?:[1-4]|i{1,3}v?|iv|one|two|three|four)|[1-4](?:st|nd|rd|th)\s*stage)\b")
# Where one question may end and another begin.
_JOINS = re.compile(r"\?+\s*|\s*[;,।]\s*|\s+(?:and also|and|also|plus|aur|tatha|&|और|तथा)\s+")
# A split leaves parts of this many words at least, and a message of more parts is not tried (it is a story).
MIN_PART_WORDS = 2
MAX_PARTS = 5
# The chance (0-100) a message alone gives the topic just answered, for that topic to decide it: "what about the
# weather" reads as the therapy at 30 and stays unanswered; "aur radiation se?" as the comparison at 84.
CONTEXT_AT = 40.0


@dataclass(frozen=True)
class Listening:
    """The cues of language/conversation.yaml, read as fixed words are (bot.spelling.normalise)."""

    more: frozenset = frozenset()  # words that ask for more on the last topic
    more_filler: frozenset = frozenset()  # words that may stand beside them ("please", "a bit", "about that")
    person: frozenset = frozenset()  # the patient or a relative spoken of ("my father", "he", "mummy")
    details: tuple = ()  # phrases of a case: other illnesses, treatments had, insurers and schemes
    options: dict = None  # {option: phrases that pick it} for the booking's questions (bot/booking.py)
    agree: frozenset = frozenset()  # a yes said in more words
    disagree: frozenset = frozenset()  # a no said in more words

    @classmethod
    def of(cls, lists):
        """From the file's lists of words and phrases."""
        def words(name):
            return frozenset(w for phrase in lists.get(name, ()) for w in normalise(phrase).split())
        details = tuple(sorted({normalise(p) for p in lists.get("details", ())}, key=len, reverse=True))
        options = {option: frozenset(normalise(p) for p in phrases) for option, phrases in (lists.get("options") or {}).items()}
        return cls(words("more"), words("more_filler"), words("person"), details, options, words("agree"),
                   words("disagree"))

    def says_yes(self, text):
        """True for a yes, False for a no ("yes I have all reports", "nahi hai abhi"), None for neither."""
        found = set(normalise(text).split())
        if found & self.disagree:
            return False
        return True if found & self.agree else None

    def picks(self, text, options):
        """The one option of `options` whose phrases the text holds ("mere papa ke liye": relative), else None."""
        padded = f" {normalise(text)} "
        found = [o for o in options if any(f" {p} " in padded for p in (self.options or {}).get(o, ()))]
        return found[0] if len(found) == 1 else None

    def asks_for_more(self, text):
        """True for "tell me more", "pls elaborate", "aur detail me samjhao": only words of asking for more."""
        found = normalise(text).split()
        return bool(found) and any(w in self.more for w in found) and all(w in self.more | self.more_filler for w in found)

    def personal(self, text):
        """True when the message tells the patient's own case: someone spoken of, and their age, stage or illness."""
        read = normalise(text)
        words, padded = read.split(), f" {read} "
        # "my son is 19", "he's 74": someone spoken of, then their age.
        aged = any(w in self.person and words[i + 1] in _IS and words[i + 2].isdigit() for i, w in enumerate(words[:-2]))
        aged = aged or any(w in _CONTRACTED and words[i + 1].isdigit() for i, w in enumerate(words[:-1]))
        detail = aged or _AGE.search(read) or _STAGE.search(read) or any(f" {d} " in padded for d in self.details)
        return bool(detail) and bool(self.person.intersection(words))


def two_questions(text, matcher):
    """The two topics of a message that asks two things ("side effects? and how long does it take?"), else None.

    Each side of a break between clauses is matched alone: two different topics, each answered with confidence.
    """
    parts = [p for p in _JOINS.split(text.strip()) if p]
    if not 2 <= len(parts) <= MAX_PARTS:
        return None
    for cut in range(1, len(parts)):
        first, second = " ".join(parts[:cut]), " ".join(parts[cut:])
        if min(len(normalise(first).split()), len(normalise(second).split())) < MIN_PART_WORDS:
            continue
        one, other = matcher.match(first), matcher.match(second)
        if one.intent and other.intent and _root(one.intent) != _root(other.intent):
            return one.intent, other.intent
    return None


def _root(intent):
    """The topic a sub-intent belongs to ("duration" for "duration.stopping")."""
    return intent.split(".")[0]


def in_context(match, topic):
    """The topic just answered when a message unclear alone could well be about it (its best or second reading,
    at CONTEXT_AT or more), else None."""
    if topic is None or topic.intent in SMALL_TALK:
        return None
    readings = {match.candidate: match.score, match.runner_up: match.runner_up_score}
    return topic.intent if readings.get(topic.intent, 0.0) >= CONTEXT_AT else None

