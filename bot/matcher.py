"""Patient text -> the intent it asks about: emergencies first, then the weight of the evidence for each intent.

How a message is read (everything is built once per knowledge load; nothing per request that could be):
1. Spelling (bot.words): Devanagari in Latin letters, doubled letters and English endings folded away,
   then the synonyms of responses.yaml ("bukhar" and "temperature" are "fever"), then any word still
   unknown corrected to the nearest known word with rapidfuzz ("insurense" -> "insurance").
2. Parts: sentences and comma-separated parts. In a long message the question weighs more than the
   story around it; a part the patient sets aside ("not the side effects, ...") counts for nothing.
3. Evidence: every word and word pair of the example phrases votes for the intents whose phrases use it,
   in proportion to how typical it is of each, and weighs as much as it tells the intents apart. A
   message's score for an intent is the share of its evidence that points there; words the knowledge
   has never seen dilute every score, which is how questions about other things fall below the bar.
4. Near copies of an example phrase score by their rapidfuzz similarity.
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import product

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from bot.words import fold, sentences, spell, stem, surface

EMERGENCY = "emergency"
# Intents scoring below this (0-100) are not answered.
THRESHOLD = 20.0
# A near copy of an example phrase (rapidfuzz ratio at least this) is that phrase's intent.
NEAR_COPY = 88.0
# A message this likely (0-100) to be about something else gets the fallback.
OUTSIDE_BAR = 50.0
# Examples a feature needs before its votes count half: fewer examples, less sure votes.
EVIDENCE_PRIOR = 1.0
# How much a pair of neighbouring words weighs against a single word: pairs are rarer, so noisier.
PAIR_WEIGHT = 0.75
# How much an unknown word weighs against a known one: a typical word of one intent weighs 1.
UNKNOWN_WEIGHT = 1.0
# The share of an unknown word's weight that counts as evidence for "outside the knowledge".
UNKNOWN_VOTE = 0.3
# In a message of several sentences, the weight of the whole story around the question, shared by its sentences.
STORY_WEIGHT = 0.5
# The weight of what comes before "but" (and its synonyms in responses.yaml).
BEFORE_CONTRAST = 0.5
# Emergency sign parts must lie within this many words of each other.
SIGN_WINDOW = 7
# Spelling correction: an unknown word of at least 4 letters is read as the known word it is one edit
# away from (a wrong, missing, extra or swapped letter); two edits from 9 letters, three from 13.
SPELLING_EDITS = ((13, 3), (9, 2), (4, 1))
_CACHE_LIMIT = 50_000  # patients can invent words without end
_CLAUSE = re.compile(r"[,;:]")


@dataclass(frozen=True)
class Rules:
    """How patients' words are read, from the `matching` section of responses.yaml."""

    synonyms: dict = field(default_factory=dict)  # word -> the words and phrases that mean the same
    ignore: tuple = ()  # words that say nothing about the topic
    contrast: tuple = ()  # "but": what follows counts more than what comes before
    set_aside_openers: tuple = ()  # a part opening with one of these is set aside
    set_aside_closers: tuple = ()  # ... or closing with one of these
    out_of_scope: tuple = ()  # example messages the knowledge does not cover
    emergency_signs: tuple = ()  # "part | part ; part | part": every ;-part close together
    emergency_general: tuple = ()  # a sign asked about in general ("does it cause ...")
    emergency_now: tuple = ()  # ... unless it is happening to someone now
    strict: dict = field(default_factory=dict)  # intent -> the lead (0-100) it needs over the runner-up


@dataclass(frozen=True)
class Match:
    """The outcome of matching one text: `intent` is None when nothing is close enough to answer."""

    intent: str | None
    score: float
    candidate: str | None = None
    runner_up: str | None = None
    runner_up_score: float = 0.0
    caution: float = 0.0  # how far ahead of the runner-up this intent must be (responses.yaml, strict)

    @property
    def margin(self):
        return self.score - self.runner_up_score

    def options(self, margin):
        """The two intents to ask between when the best is less than `margin` (or its own caution) ahead, else ()."""
        if self.intent in (None, EMERGENCY) or not self.runner_up:
            return ()
        return (self.intent, self.runner_up) if self.margin < max(margin, self.caution) else ()


class _Reader:
    """Turns words into canonical words: synonyms, then spelling correction against every known word."""

    def __init__(self, rules, texts, foreign=()):
        self.synonyms, self.phrases = {}, defaultdict(list)
        # Words that say nothing may sit inside a phrase: "stay in the hospital" is "stay in hospital".
        self.skippable = {self.base(w) for text in rules.ignore for w in surface(fold(text)) if not w.isdigit()}
        for word, variants in rules.synonyms.items():
            target = self.base(word)
            for variant in [word, *variants]:
                words = [self.base(w) for w in surface(fold(variant))]
                inner = words[:1] + [w for w in words[1:] if w not in self.skippable]
                words = tuple(inner if len(inner) > 1 else words)
                if len(words) == 1:
                    self.synonyms[words[0]] = target
                elif words:
                    self.phrases[words[0]].append((words, target))
        for first in self.phrases:
            self.phrases[first].sort(key=lambda entry: -len(entry[0]))
        self.ignore = {self.canon(word) for text in rules.ignore for word in surface(fold(text))}
        seen = Counter(word for text in texts for word in surface(fold(text)))
        seen.update(word for text in rules.synonyms for word in surface(fold(text)))
        seen.update(w for variants in rules.synonyms.values() for v in variants for w in surface(fold(v)))
        self.known = {word: self.canon(word) for word in seen}
        self.meanings = set(self.known.values())
        # Most used first, so that a misspelling equally close to two words is read as the common one. Words
        # only the out-of-scope examples use are left out: "watch" must not become "match" (cricket).
        home = Counter(word for text in texts for word in surface(fold(text)))
        home.subtract(word for text in foreign for word in surface(fold(text)))
        correctable = [w for w in seen if len(w) >= 3 and not w.isdigit() and (home[w] > 0 or w not in home)]
        self.vocabulary = sorted(correctable, key=lambda w: (-seen[w], w))
        self._cache = {}

    @staticmethod
    def base(word):
        return stem(spell(word))

    def canon(self, word):
        """The canonical form of one spelled word, before any spelling correction."""
        base = self.base(word)
        return self.synonyms.get(base, base)

    def read(self, words):
        """Canonical words for a list of spelled words: phrase synonyms first, then word by word."""
        bases = [self.base(word) for word in words]
        out, i = [], 0
        while i < len(words):
            for phrase, target in self.phrases.get(bases[i], ()):
                end = self._phrase_end(bases, i, phrase)
                if end:
                    out.append(target)
                    i = end
                    break
            else:
                out.append(self.correct(words[i]))
                i += 1
        return out

    def _phrase_end(self, bases, start, phrase):
        """Where the phrase ends when it starts at `start`, skipping words that say nothing; else None."""
        at = start
        for part in phrase:
            while at > start and at < len(bases) and bases[at] != part and bases[at] in self.skippable:
                at += 1
            if at >= len(bases) or bases[at] != part:
                return None
            at += 1
        return at

    def correct(self, word):
        """The canonical form of a word, corrected to the nearest known word when it is unknown."""
        if word in self.known:
            return self.known[word]
        if word in self._cache:
            return self._cache[word]
        found = self.canon(word)
        edits = next((n for length, n in SPELLING_EDITS if len(word) >= length), 0)
        # "says" is "say", a known word: only a word unknown even without its ending is misspelt.
        if edits and not word.isdigit() and found not in self.meanings:
            best = process.extractOne(word, self.vocabulary, scorer=DamerauLevenshtein.distance, score_cutoff=edits)
            if best:
                found = self.known[best[0]]
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[word] = found
        return found


class Matcher:
    """Scores a text against every intent's example phrases; emergencies are recognised first."""

    def __init__(self, phrases_by_intent, rules=None, threshold=THRESHOLD):
        self.rules = rules or Rules()
        self.threshold = threshold
        rules = self.rules
        texts = [p for phrases in phrases_by_intent.values() for p in phrases] + list(rules.out_of_scope)
        texts += [cue for cues in (rules.contrast, rules.set_aside_openers, rules.set_aside_closers,
                                   rules.emergency_general, rules.emergency_now) for cue in cues]
        texts += [part for sign in rules.emergency_signs for part in sign.replace(";", "|").split("|")]
        self.reader = _Reader(rules, texts + list(rules.ignore), rules.out_of_scope)
        self.contrast = {spell(w) for cue in rules.contrast for w in surface(fold(cue))}
        self.openers = [tuple(surface(fold(cue))) for cue in rules.set_aside_openers]
        self.closers = [tuple(surface(fold(cue))) for cue in rules.set_aside_closers]
        # Cues are compared as written (only spelling and endings folded): "reaction" is not "side effect" here.
        self.general = [tuple(map(self.reader.base, surface(fold(cue)))) for cue in rules.emergency_general]
        self.now = [tuple(map(self.reader.base, surface(fold(cue)))) for cue in rules.emergency_now]
        self.signs = [
            [[tuple(self.reader.read(surface(fold(alt)))) for alt in part.split("|") if alt.strip()]
             for part in sign.split(";")]
            for sign in rules.emergency_signs
        ]
        self.intents = list(phrases_by_intent)
        self._train({**phrases_by_intent, None: list(rules.out_of_scope)})
        self.emergency_phrases = [" ".join(surface(fold(p))) for p in phrases_by_intent.get(EMERGENCY, ())]

    def _train(self, phrases_by_intent):
        """Each feature's votes for the intents and its weight (how well it tells them apart)."""
        counts, sizes, self.copies, self.copy_owners = defaultdict(Counter), Counter(), [], []
        for intent, phrases in phrases_by_intent.items():
            for phrase in phrases:
                words = surface(fold(phrase))
                if not words:
                    continue
                sizes[intent] += 1
                for feature in self._features(self.reader.read(words)):
                    counts[feature][intent] += 1
                self.copies.append(" ".join(words))
                self.copy_owners.append(intent)
        spread = math.log(max(2, len(sizes)))
        self.votes = {}
        for feature, per_intent in counts.items():
            # Shares are per phrase of each intent, so that an intent with many examples does not outvote the rest.
            share = {intent: n / sizes[intent] for intent, n in per_intent.items()}
            total = sum(share.values())
            entropy = -sum(s / total * math.log(s / total) for s in share.values())
            # A feature seen in one example is half sure of its intents; seen in ten, nearly sure.
            seen = sum(per_intent.values())
            sure = seen / (seen + EVIDENCE_PRIOR)
            weight = 1.0 - entropy / spread
            self.votes[feature] = (weight, tuple((i, sure * s / total) for i, s in share.items()))

    def _features(self, words):
        """Single words and neighbouring pairs, in order, once the words that say nothing are left out."""
        words = [w for w in words if w not in self.reader.ignore]
        return dict.fromkeys(words + [f"{a} {b}" for a, b in zip(words, words[1:])])

    def _parts(self, text):
        """[weight, spelled words, in the question] for each part: the question counts most, set-aside parts nothing."""
        found = sentences(fold(text))
        asked = [question for _, question in found]
        if len(found) > 1 and not any(asked):
            asked[-1] = True  # without a question mark the question is usually last
        parts = []
        for (sentence, _), question in zip(found, asked):
            question = question or len(found) == 1
            weight = 1.0 if question else STORY_WEIGHT / (len(found) - sum(asked))
            first = len(parts)
            for chunk in _CLAUSE.split(sentence):
                piece = []
                for word in surface(chunk):
                    if word not in self.contrast:
                        piece.append(word)
                        continue
                    if piece:
                        parts.append([weight, piece, question])
                        piece = []
                    for part in parts[first:]:  # "..., but" turns the weight to what follows
                        part[0] *= BEFORE_CONTRAST
                    first = len(parts)
                if piece:
                    parts.append([weight, piece, question])
        aside = [self._set_aside(words) for _, words, _ in parts]
        if not all(aside):
            for part, drop in zip(parts, aside):
                part[0] *= not drop
        return parts

    def _set_aside(self, words):
        """True when a part opens or closes with a cue that the patient is not asking about it."""
        return any(tuple(words[:len(cue)]) == cue for cue in self.openers if cue) or any(
            tuple(words[-len(cue):]) == cue for cue in self.closers if cue)

    def emergency(self, text):
        """True when the text describes severe symptoms happening now; cheap enough to check on every message."""
        words = surface(fold(text))
        if not words:
            return False
        joined = " ".join(words)
        if self.emergency_phrases and process.extractOne(
                joined, self.emergency_phrases, scorer=fuzz.ratio, score_cutoff=NEAR_COPY):
            return True
        canonical = self.reader.read(words)
        if not any(self._sign(canonical, sign) for sign in self.signs):
            return False
        # "Does it cause breathing trouble?" asks in general; "he has trouble breathing" is happening now.
        bases = [self.reader.base(word) for word in words]
        general = any(_find(bases, cue) for cue in self.general)
        return not general or any(_find(bases, cue) for cue in self.now)

    @staticmethod
    def _sign(words, sign):
        """True when every part of the sign appears, all within SIGN_WINDOW words."""
        places = []
        for part in sign:
            found = [i for alternative in part for i in _find(words, alternative)]
            if not found:
                return False
            places.append(found)
        return any(max(c) - min(c) <= SIGN_WINDOW for c in product(*places))

    def scores(self, text):
        """Every intent's score (0-100) for the text, best first; None stands for "outside the knowledge"."""
        parts = self._parts(text)
        scores = self._weigh(parts)
        # A long message is also judged by its question alone, so that its story cannot drown it out.
        question = [part for part in parts if part[2]]
        if len(question) < len(parts):
            for intent, score in self._weigh(question).items():
                if intent is not None:
                    scores[intent] = max(score, scores.get(intent, 0.0))
        copy = process.extractOne(" ".join(surface(fold(text))), self.copies, scorer=fuzz.ratio, score_cutoff=NEAR_COPY)
        if copy:
            owner = self.copy_owners[copy[2]]
            scores[owner] = max(scores.get(owner, 0.0), copy[1])
        return sorted(scores.items(), key=lambda item: -item[1])

    def _weigh(self, parts):
        """Each intent's share (0-100) of the evidence in the weighted parts, and None's: how foreign they are."""
        weights = {}
        for weight, words, _ in parts:
            for feature in self._features(self.reader.read(words)):
                weights[feature] = max(weight, weights.get(feature, 0.0))
        # Topic evidence is shared out among the intents; a message is about something else as soon as one
        # word is clearly foreign (another disease, a drug, the weather), so foreign words combine by noisy-or.
        evidence, total, at_home = defaultdict(float), 0.0, 1.0
        for feature, weight in weights.items():
            single = " " not in feature
            entry = self.votes.get(feature)
            if entry is None:
                # Short unknown words are mostly shorthand ("r", "wat"), not another subject.
                if single and len(feature) >= 4 and not feature.isdigit():
                    total += weight * UNKNOWN_WEIGHT
                    at_home *= 1.0 - weight * UNKNOWN_VOTE
                continue
            strength, votes = entry
            if not single:
                strength *= PAIR_WEIGHT
            total += weight * strength
            for intent, vote in votes:
                if intent is not None:
                    evidence[intent] += weight * strength * vote
                elif single:
                    at_home *= 1.0 - weight * vote
        scores = {intent: 100.0 * e / total for intent, e in evidence.items()} if total else {}
        scores[None] = 100.0 * (1.0 - at_home)
        return scores

    def match(self, text):
        """The best intent for `text`, with its score and the runner-up's."""
        if self.emergency(text):
            return Match(EMERGENCY, 100.0, EMERGENCY)
        ranked = self.scores(text)
        outside = dict(ranked).get(None, 0.0)
        # The emergency examples teach which words are alarming; only emergency() may raise the alarm.
        ranked = [(intent, score) for intent, score in ranked if intent not in (None, EMERGENCY)]
        if not ranked:
            return Match(None, 0.0)
        candidate, score = ranked[0]
        runner_up, runner_up_score = ranked[1] if len(ranked) > 1 else (None, 0.0)
        answerable = score >= self.threshold and outside < OUTSIDE_BAR
        return Match(candidate if answerable else None, round(score, 1), candidate, runner_up,
                     round(runner_up_score, 1), self.rules.strict.get(candidate, 0.0))


def _find(words, phrase):
    """Where the phrase (a tuple of words) starts in the list of words."""
    n = len(phrase)
    if not n:
        return []
    return [i for i in range(len(words) - n + 1) if words[i] == phrase[0] and tuple(words[i:i + n]) == phrase]
