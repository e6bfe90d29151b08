"""Patient text -> the topic it asks about, by the weight of the evidence for each intent.

Red flags are not found here but in bot.safety, before any topic: the emergency intent's phrases only teach
the matcher which words are alarming, so that a message like them is never answered with a topic.

How a message is read (everything is built once per knowledge load; nothing per request that could be):
1. Words (bot.spelling, bot.reader): Devanagari in Latin letters, doubled letters and English endings folded
   away, the synonyms of language/synonyms.yaml ("bukhar" and "temperature" are "fever"), then any word still
   unknown corrected to the nearest known word with rapidfuzz ("insurense" -> "insurance").
2. Parts (bot.parts): sentences and comma-separated parts. In a long message the question weighs more than
   the story around it; a part the patient sets aside ("not the side effects, ...") counts for nothing.
3. Evidence: each intent's example phrases are a small word model of how patients ask about it. A word
   or word pair weighs for an intent by how much more often its phrases use it than all phrases do,
   blended with the language of all phrases so that one sighting is a hint, not proof. Words never seen
   are left out. The evidence is averaged over the message and turned into shares (0-100) per intent.
4. Outside the knowledge: words that the out-of-scope examples use more than any topic (another disease,
   a drug, the weather), and to a lesser degree words never seen at all, make a message foreign; one
   clearly foreign word is enough, so they combine by noisy-or. Naming the therapy ("il-2"), or pointing
   at it ("this medicine", "the drip"), makes another subject less likely. A disease, drug or procedure of
   `other_subjects` named where our therapy is neither named, pointed at nor compared with is the subject.
"""

import dataclasses
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from bot.features import reading
from bot.judge import Judge
from bot.model import IntentModel, Options
from bot.parts import Parts
from bot.reader import Reader, words_of
from bot.spelling import fold

EMERGENCY = "emergency"
# A topic is answered when the judge gives it at least this chance (0-100) of being right: chosen on the
# validation set bench/dev2.jsonl (bench/matching.py), where 60 rejected the most of what we do not answer
# with no topic answered less.
ANSWER_AT = 60.0
# ... and the engine's topic stands when the engine is this sure of it (0-100) and the judge's choice is the same:
# where a knowledge has a few phrases a topic, the judge learns little. Chosen on bench/dev2.jsonl: from 80 down
# the rejection of what we do not answer falls, with no topic more answered right.
ENGINE_SURE = 80.0
# Folds of the phrases left out in turn, for the model's calibration and the judge's examples.
FOLDS = 3
# The engine answers only its topics scoring at least this (0-100) ...
THRESHOLD = 15.0
# A message this likely (0-100) to be about something else gets the fallback: low, as a confident answer to
# a question about another illness or drug does more harm than the fallback.
OUTSIDE_BAR = 27.0
# How much naming the therapy ("il-2", "interleukin") lowers the chance a message is about something else.
ANCHOR_DISCOUNT = 0.35
# ... and pointing at it ("the drip", "this medicine", "it"): weaker, as the words also point at other things.
MENTION_DISCOUNT = 0.7
# Sightings a word needs before its foreignness counts half.
EVIDENCE_PRIOR = 1.0
# Each intent's phrases are blended with this share of an average intent's worth of all the phrases together.
SMOOTHING = 0.1
# How much a pair of neighbouring words weighs against a single word: pairs are rarer, so noisier.
PAIR_WEIGHT = 0.5
# The chance that an unknown word of four letters or more names something we do not cover.
UNKNOWN_VOTE = 0.25
# How sharply the average evidence per feature separates the intents.
SHARPNESS = 1.5
# A question this sure (0-100) of a topic on its own vouches for a long message whose story is foreign.
QUESTION_SURE = 30.0


@dataclass(frozen=True)
class Rules:
    """How patients' words are read, from the language files (language/README.md)."""

    synonyms: dict = field(default_factory=dict)  # word -> the words and phrases that mean the same
    ignore: tuple = ()  # words that say nothing about the topic
    contrast: tuple = ()  # "but": what follows counts more than what comes before
    set_aside_openers: tuple = ()  # a part opening with one of these is set aside
    set_aside_closers: tuple = ()  # ... or closing with one of these
    out_of_scope: tuple = ()  # example messages the knowledge does not cover
    strict: dict = field(default_factory=dict)  # intent -> the lead (0-100) it needs over the runner-up
    anchors: tuple = ()  # words naming our therapy: a message naming it is less likely about something else
    mentions: tuple = ()  # words that point at the treatment without naming it ("the drip", "this medicine")
    other_subjects: tuple = ()  # names of other diseases, drugs and procedures: asked about alone, not our topic
    comparing: tuple = ()  # words of a comparison ("than", "alag"): another treatment named to compare with ours
    not_pointing: tuple = ()  # a mention pointing at what follows ("is it safe to travel"), not at the treatment


@dataclass(frozen=True)
class Match:
    """The outcome of matching one text: `intent` is None when nothing is close enough to answer."""

    intent: str | None
    score: float
    candidate: str | None = None
    runner_up: str | None = None
    runner_up_score: float = 0.0
    caution: float = 0.0  # how far ahead of the runner-up this intent must be (language/reading.yaml, strict)
    # Not answered, but one of the two is likely the topic: asking which beats not understanding at all.
    between: bool = False

    @property
    def margin(self):
        return self.score - self.runner_up_score

    def options(self, margin):
        """The two intents to ask between: when the best is less than `margin` (or its own caution) ahead of the
        runner-up, or when neither alone but one of the two is likely right; else ()."""
        if self.between:
            return (self.candidate, self.runner_up)
        if self.intent in (None, EMERGENCY) or not self.runner_up:
            return ()
        return (self.intent, self.runner_up) if self.margin < max(margin, self.caution) else ()


class Matcher:
    """Reads a text against every intent's example phrases: the engine's evidence, a model learnt from them, a judge."""

    def __init__(self, phrases_by_intent, rules=None, threshold=THRESHOLD, learn=True):
        """`learn=False` builds the engine alone (no model, no judge): fast, for checks that rebuild it many times."""
        self.rules = rules = rules or Rules()
        self.threshold = threshold
        cues = (rules.contrast, rules.set_aside_openers, rules.set_aside_closers)
        texts = [p for phrases in phrases_by_intent.values() for p in phrases] + list(rules.out_of_scope)
        texts += rules.other_subjects  # known as written, so "crocin" is not misread as a word of our topics
        texts += [cue for group in cues for cue in group]
        self.reader = Reader(rules.synonyms, rules.ignore, texts, rules.out_of_scope)
        self.parts = Parts(self.reader, rules)
        self.anchors = {w for anchor in rules.anchors for w in self.reader.read(words_of(anchor))}
        self.mentions = {w for mention in rules.mentions for w in self.reader.read(words_of(mention))}
        self.subjects = {w for subject in rules.other_subjects for w in self.reader.read(words_of(subject))}
        self.subjects -= self.anchors | self.mentions | self.reader.ignore
        self.comparing = {w for cue in rules.comparing for w in self.reader.read(words_of(cue))}
        self.not_pointing = defaultdict(list)  # first word -> the cues that start with it
        for cue in rules.not_pointing:
            read = tuple(self.reader.read(words_of(cue)))
            if read:
                self.not_pointing[read[0]].append(read)
        self._train({**phrases_by_intent, None: list(rules.out_of_scope)})
        # Whether the engine's reading of what lies outside the knowledge (other subjects, the therapy named or
        # pointed at) decides if a message is answered: only where language resources say what those are.
        self.gated = bool(rules.other_subjects or rules.anchors or rules.mentions)
        self.model = self.judge = None
        if learn and phrases_by_intent:
            self._learn(phrases_by_intent, rules)

    def _learn(self, phrases_by_intent, rules):
        """The model learnt from the phrases (reading them as the engine does), and the judge of answers, learnt from
        what the model and the engine answer for phrases and out-of-scope examples each left out of their folds."""
        # The model reads what the engine weighs (not what the patient sets aside), phrases as messages.
        focused = {intent: [self.focus(p) for p in phrases] for intent, phrases in phrases_by_intent.items()}
        self.model = IntentModel(focused, [self.focus(p) for p in rules.out_of_scope], reading(self.reader),
                                 Options(folds=FOLDS))
        held = self.model.held_out
        texts = [(p, i) for i, phrases in phrases_by_intent.items() for p in phrases]
        texts += [(p, None) for p in rules.out_of_scope]
        rows, right = [], []
        if held is not None:
            for part in np.unique(held.folds):
                kept = defaultdict(list)
                for (text, intent), fold_of in zip(texts, held.folds):
                    if fold_of != part:
                        kept[intent].append(text)
                outside = tuple(kept.pop(None, ()))
                engine = Matcher(kept, dataclasses.replace(rules, out_of_scope=outside), self.threshold, learn=False)
                for k in np.flatnonzero(held.folds == part):
                    text, intent = texts[k]
                    confidence, none = self.model.confidences_of(held.probabilities[k], exclude=(EMERGENCY,))
                    candidates = self._candidates(engine.scores(text), confidence, none)
                    if candidates:
                        chosen, features = candidates[0]
                        rows.append(features)
                        right.append(intent is not None and chosen == intent)
        self.judge = Judge(rows, right)
        self.model.forget_held_out()

    def _candidates(self, ranked, confidence, none):
        """The two intents the model and the engine together rank first (by the mean of their scores), each with the
        judge's features."""
        scores = {intent: score for intent, score in ranked if intent not in (None, EMERGENCY)}
        outside = dict(ranked).get(None, 0.0)
        top = max(scores, key=scores.get) if scores else None
        mixed = sorted(confidence, key=lambda i: -(confidence[i] + scores.get(i, 0.0)))[:2]
        return [(i, Judge.features(confidence[i], scores.get(i, 0.0), outside, i == top, none)) for i in mixed]

    def _train(self, phrases_by_intent):
        """How much more often each feature is used by each intent's phrases than by all of them; how foreign it is."""
        counts, lengths, sizes = defaultdict(Counter), Counter(), Counter()
        for intent, phrases in phrases_by_intent.items():
            for phrase in phrases:
                sizes[intent] += 1
                for feature in self._features(self.reader.read(words_of(phrase))):
                    counts[feature][intent] += 1
                    lengths[intent] += 1
        total = sum(lengths.values()) or 1
        topics = [intent for intent in lengths if intent is not None]
        # An intent's phrases are a small sample of how patients ask about it: each intent's counts are blended
        # with a SMOOTHING share of an average intent's worth of all the phrases together, so a word it never
        # used is unlikely, not impossible, and a word seen once is a hint rather than proof.
        blend = SMOOTHING * total / len(lengths)
        self.absent = {intent: math.log(blend / (lengths[intent] + blend)) for intent in topics}
        self.evidence, self.foreign = {}, {}
        for feature, per_intent in counts.items():
            common = sum(per_intent.values()) / total
            likely = {intent: (n + blend * common) / (lengths[intent] + blend) for intent, n in per_intent.items()}
            self.evidence[feature] = tuple((intent, math.log(p / common) - self.absent[intent])
                                           for intent, p in likely.items() if intent is not None)
            if None in per_intent:
                # Foreign as much as the out-of-scope examples use it more than any topic does; surer when seen often.
                # Compared per phrase, so that the many short out-of-scope examples do not outweigh a topic's phrases.
                there = per_intent[None] / sizes[None]
                home = max((per_intent.get(intent, 0) / sizes[intent] for intent in topics), default=0.0)
                seen = sum(per_intent.values())
                self.foreign[feature] = there / (there + home) * seen / (seen + EVIDENCE_PRIOR)

    def _features(self, words):
        """Single words and neighbouring pairs, in order, once the words that say nothing (and lone letters) are left out."""
        words = [w for w in words if w not in self.reader.ignore and (len(w) > 1 or w.isdigit())]
        return dict.fromkeys(words + [f"{a} {b}" for a, b in zip(words, words[1:])])

    def _confidences(self, text, parts=None):
        """The model's confidence (0-100) in each intent, and its chance (0-1) of none, for what the text asks.

        The whole message is read, story and question alike: reading a long message's question alone as well
        (the mean of the two) was measured on bench/dev2.jsonl and answered its long messages worse (92.9% right
        against 97.6%).
        """
        return self.model.confidences(self.focus(text, parts), exclude=(EMERGENCY,))

    def focus(self, text, parts=None):
        """The words of a text the model reads: without the parts the patient sets aside ("not the cost, ...")."""
        parts = self.parts.cut(fold(text)) if parts is None else parts
        kept = [part for part in parts if part[0] > 0] or parts
        return " ".join(word for _, words, _ in kept for word in words)

    def scores(self, text):
        """Every intent's score (0-100) for the text, best first; None stands for "outside the knowledge"."""
        return self._scores(fold(text))

    def _scores(self, folded, parts=None):
        parts = self.parts.cut(folded) if parts is None else parts
        scores = self._weigh(parts)
        # A long message is also judged by its question alone, so that its story cannot drown it out, nor make
        # it foreign when the question clearly asks about a topic: a story tells of banks, buses and wounds.
        # The question lifts a topic only as far as the whole message bears it out (the geometric mean of the
        # two): a short question's one word ("fight this", "change his diet") is no match for a story about
        # an insurer or a diet.
        question = [part for part in parts if part[2]]
        if len(question) < len(parts):
            alone = self._weigh(question)
            sure = max((score for intent, score in alone.items() if intent is not None), default=0.0) >= QUESTION_SURE
            for intent, score in alone.items():
                if intent is None:
                    if sure:
                        scores[None] = min(score, scores[None])
                else:
                    scores[intent] = max(math.sqrt(score * scores.get(intent, 0.0)), scores.get(intent, 0.0))
        return sorted(scores.items(), key=lambda item: -item[1])

    def _subject(self, read):
        """(points at our therapy, names another subject) for the canonical words of one part."""
        # "Is it safe to travel": the "it" stands for the travel, so it is left out as a mention.
        read = [w for i, w in enumerate(read)
                if not any(tuple(read[i:i + len(cue)]) == cue for cue in self.not_pointing.get(w, ()))]
        # An unknown word just before a noun that points ("xyzumab injection"), or after it and "of" ("the dose of
        # xyzumab"), is the name of another treatment; elsewhere ("the drip raises ...", "interfere with the
        # medicine") it may be any word.
        unknown = {w for i, w in enumerate(read) if self._unknown(w) and (
            read[i + 1:i + 2] and read[i + 1] in self.mentions
            or i >= 2 and read[i - 2] in self.mentions and read[i - 1] in self.reader.ignore)}
        words = [w for w in read if w not in self.reader.ignore]
        named = [w in self.subjects or w in unknown for w in words]
        # "it" always may point at our therapy; a noun that points ("dose", "course") belongs to a name beside it.
        points = not self.mentions.isdisjoint(w for w in read if w in self.reader.ignore) or any(
            w in self.mentions and not any(named[max(i - 1, 0):i + 2]) for i, w in enumerate(words))
        return points, any(named)

    def _unknown(self, word):
        """True for a word of four letters or more that neither our texts nor any correction know."""
        return len(word) >= 4 and not word.isdigit() and word not in self.evidence and word not in self.reader.meanings

    def _weigh(self, parts):
        """Each topic's likelihood (0-100) given the weighted parts, and None's: how foreign the parts are."""
        weights, pointed, compared, other = {}, False, False, 0.0
        for weight, words, _ in parts:
            read = self.reader.read(words)
            points, names = self._subject(read)
            pointed = pointed or (weight > 0 and points)
            compared = compared or (weight > 0 and not self.comparing.isdisjoint(read))
            if names:
                other = max(other, weight)
            for feature in self._features(read):
                weights[feature] = max(weight, weights.get(feature, 0.0))
        logs, seen, at_home = defaultdict(float), 0.0, 1.0
        for feature, weight in weights.items():
            single = " " not in feature
            entry = self.evidence.get(feature)
            if entry is None:
                # Short unknown words are mostly shorthand ("r", "wat"); a longer one may well name another subject.
                # A word of our own texts that only phrases use ("financial" of "financial aid") is not unknown.
                if single and self._unknown(feature):
                    at_home *= 1.0 - weight * UNKNOWN_VOTE
                continue
            if not single:
                weight *= PAIR_WEIGHT
            seen += weight
            at_home *= 1.0 - weight * self.foreign.get(feature, 0.0)
            for intent, more in entry:
                logs[intent] += weight * more
        named = any(weights.get(anchor) for anchor in self.anchors)
        if not (named or pointed or compared):
            # Another disease, drug or procedure named where our therapy is neither named nor pointed at is
            # what the message asks about, however much of our topics' language ("dose", "diet") it shares.
            at_home *= 1.0 - other
        discount = ANCHOR_DISCOUNT if named else MENTION_DISCOUNT if pointed else 1.0
        scores = {None: 100.0 * (1.0 - at_home) * discount}
        if not seen:
            return scores
        # Evidence is averaged over the features read, then sharpened: the features of one message are not
        # independent proofs, so a long message is not more certain than a short one for its length alone.
        odds = {intent: SHARPNESS * (logs[intent] / seen + absent) for intent, absent in self.absent.items()}
        top = max(odds.values())
        shares = {intent: math.exp(value - top) for intent, value in odds.items()}
        total = sum(shares.values())
        scores.update((intent, 100.0 * share / total) for intent, share in shares.items())
        return scores

    def match(self, text, bar=ANSWER_AT):
        """The best topic for `text`, with its score (the chance, 0-100, that it is right) and the runner-up's; red
        flags are bot.safety's. `bar`: the chance an answer needs (benchmarks try others)."""
        folded = fold(text)
        parts = self.parts.cut(folded)
        all_ranked = self._scores(folded, parts)
        outside = dict(all_ranked).get(None, 0.0)
        # The emergency examples teach which words are alarming; only bot.safety may raise the alarm.
        ranked = [(intent, score) for intent, score in all_ranked if intent not in (None, EMERGENCY)]
        if not ranked:
            return Match(None, 0.0)
        # The engine's own gate: its best topic well enough ahead, and the text not about something else.
        engine_answers = ranked[0][1] >= self.threshold and outside < OUTSIDE_BAR
        if self.model is None:
            (candidate, score), (runner_up, runner_up_score) = ranked[0], ranked[1] if len(ranked) > 1 else (None, 0.0)
            answerable, between = engine_answers, False
        else:
            confidence, none = self._confidences(text, parts)
            chances = sorted(((i, self.judge.chance(f)) for i, f in self._candidates(all_ranked, confidence, none)),
                             key=lambda chance: -chance[1])
            (candidate, score), (runner_up, runner_up_score) = chances[0], chances[1] if len(chances) > 1 else (None, 0.0)
            # The judge's chance decides; where the engine is sure of the same topic it stands too, as the judge
            # learns little from a knowledge of a few phrases a topic.
            agreed = engine_answers and ranked[0][0] == candidate and ranked[0][1] >= ENGINE_SURE
            inside = engine_answers or not self.gated
            answerable = agreed or score >= bar and inside
            # The chances of two topics add up (a message asks about one of them): together likely, ask which; so too
            # when the engine would answer one of the same two.
            pair = {candidate, runner_up} == {intent for intent, _ in ranked[:2]}
            between = not answerable and inside and runner_up is not None and (
                score + runner_up_score >= bar or engine_answers and pair)
        return Match(candidate if answerable else None, round(score, 1), candidate, runner_up,
                     round(runner_up_score, 1), self.rules.strict.get(candidate, 0.0), between)
