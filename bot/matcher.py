"""Patient text -> the intent it asks about, by fuzzy matching (rapidfuzz) over the example phrases.

Two views of each phrase are combined, because patients write both ways:
- the whole sentence, compared character by character (catches near copies, typos and word order);
- its words, weighted by how much each one tells the intents apart (IDF), each query word first
  corrected to the nearest known word, so "efects" counts as "effects" and "the" counts for nothing.
"""

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz, process

THRESHOLD = 62.0
# A query word this close (0-100) to a known word is read as that word.
SPELLING_CUTOFF = 82.0
# Weight of the whole-sentence view against the word view.
SENTENCE_WEIGHT = 0.35

_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalise(text):
    """Lower case, unified Unicode, punctuation and extra spaces removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Match:
    """The outcome of matching one text: `intent` is None when nothing is close enough."""

    intent: str | None
    score: float
    candidate: str | None = None
    runner_up: str | None = None
    runner_up_score: float = 0.0

    @property
    def margin(self):
        return self.score - self.runner_up_score


class Matcher:
    """Scores a text against every example phrase and keeps the best intent and its runner-up."""

    def __init__(self, phrases_by_intent, threshold=THRESHOLD):
        self.threshold = threshold
        self.phrases, self.owners, self.phrase_words = [], [], []
        postings = defaultdict(set)
        for intent, phrases in phrases_by_intent.items():
            for phrase in phrases:
                text = normalise(phrase)
                words = set(text.split())
                index = len(self.phrases)
                self.phrases.append(text)
                self.owners.append(intent)
                self.phrase_words.append(words)
                for word in words:
                    postings[word].add(index)
        # IDF over intents, not phrases: a word used by every intent ("what", "hai") weighs nothing.
        intents_per_word = defaultdict(set)
        for word, indexes in postings.items():
            intents_per_word[word] = {self.owners[i] for i in indexes}
        total = max(1, len(phrases_by_intent))
        self.weight = {w: math.log((1 + total) / len(owners)) for w, owners in intents_per_word.items()}
        self.postings = {w: tuple(ix) for w, ix in postings.items()}
        self.vocabulary = list(self.weight)
        self.phrase_mass = [math.sqrt(sum(self.weight[w] ** 2 for w in words)) or 1.0 for words in self.phrase_words]
        self._spelling = {}

    def correct(self, word):
        """The known word a query word stands for, or None when it is unlike every known word."""
        if word in self.weight:
            return word
        if word in self._spelling:
            return self._spelling[word]
        found = None
        if len(word) >= 3 and not word.isdigit():
            best = process.extractOne(word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=SPELLING_CUTOFF)
            found = best[0] if best else None
        if len(self._spelling) < 50_000:  # bounded: patients can invent words without end
            self._spelling[word] = found
        return found

    def emergency(self, text):
        """True when the text describes an emergency; checked before anything else the patient says."""
        return self.match(text).intent == "emergency"

    def match(self, text):
        """The best intent for `text`, with its score and the runner-up's."""
        query = normalise(text)
        if not query:
            return Match(None, 0.0)
        words = {w: self.correct(w) for w in set(query.split())}
        known = {c for c in words.values() if c}
        corrected = " ".join(words[w] or w for w in query.split())

        # Word view: IDF-weighted cosine between the query's words and each phrase's words.
        query_mass = math.sqrt(sum(self.weight[w] ** 2 for w in known)) or 1.0
        overlap = defaultdict(float)
        for word in known:
            w2 = self.weight[word] ** 2
            for index in self.postings[word]:
                overlap[index] += w2
        best = {}
        for index, shared in overlap.items():
            score = 100.0 * shared / (query_mass * self.phrase_mass[index])
            owner = self.owners[index]
            if score > best.get(owner, (0.0,))[0]:
                best[owner] = (score, index)

        # Sentence view, blended in for the phrases the word view ranked, and for near copies it missed.
        scored = {}
        for owner, (score, index) in best.items():
            scored[owner] = (1 - SENTENCE_WEIGHT) * score + SENTENCE_WEIGHT * fuzz.token_sort_ratio(corrected, self.phrases[index])
        for phrase, ratio, index in process.extract(corrected, self.phrases, scorer=fuzz.ratio, limit=5, score_cutoff=80):
            owner = self.owners[index]
            scored[owner] = max(scored.get(owner, 0.0), ratio)

        ranked = sorted(scored.items(), key=lambda item: -item[1])
        if not ranked:
            return Match(None, 0.0)
        candidate, score = ranked[0]
        runner_up, runner_up_score = ranked[1] if len(ranked) > 1 else (None, 0.0)
        intent = candidate if score >= self.threshold else None
        return Match(intent, round(score, 1), candidate, runner_up, round(runner_up_score, 1))
