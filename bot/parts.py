"""A patient's message cut into weighted parts: the question counts most, the story around it less, what is set aside nothing."""

import re
from collections import defaultdict

from bot.reader import words_of
from bot.spelling import sentences, surface

# In a message of several sentences, the weight of the whole story around the question, shared by its sentences.
STORY_WEIGHT = 0.5
# The weight of what comes before "but" (and its synonyms in language/reading.yaml).
BEFORE_CONTRAST = 0.5
# A set-aside cue may start this many words into a part: "my question is not about the cost".
OPENER_REACH = 4
# An opening part of at most this many words that starts with "not" is set aside: "not the cost, ...".
NEGATED_OPENING = 4
_CLAUSE = re.compile(r"[,;:]")


class _Cues:
    """Short phrases looked up by their first word, each word read by `form` (a Reader's base or canon)."""

    def __init__(self, cues, form):
        self.by_first, self.by_last = defaultdict(list), defaultdict(list)
        for cue in cues:
            words = tuple(form(w) for w in words_of(cue))
            if words:
                self.by_first[words[0]].append(words)
                self.by_last[words[-1]].append(words)

    def found(self, words):
        """True when any cue appears in the words."""
        return any(tuple(words[i:i + len(cue)]) == cue
                   for i, first in enumerate(words) for cue in self.by_first.get(first, ()))

    def opens(self, words):
        """True when a cue starts within the first few words ("my question is not about ...")."""
        return any(tuple(words[i:i + len(cue)]) == cue
                   for i in range(min(OPENER_REACH, len(words))) for cue in self.by_first.get(words[i], ()))

    def closes(self, words):
        """True when the words end with a cue ("... nahi")."""
        return bool(words) and any(len(cue) <= len(words) and tuple(words[-len(cue):]) == cue
                                   for cue in self.by_last.get(words[-1], ()))


class Parts:
    """How the matcher cuts a message, from the language files' "but" words and set-aside cues (bot.matcher.Rules)."""

    def __init__(self, reader, rules):
        self.reader = reader
        self.contrast = {reader.base(w) for cue in rules.contrast for w in words_of(cue)}
        # Set-aside cues compare meanings: "isn't about" is "not about".
        self.openers = _Cues(rules.set_aside_openers, reader.canon)
        self.closers = _Cues(rules.set_aside_closers, reader.canon)

    def cut(self, folded):
        """[weight, spelled words, in the question] for each part: the question counts most, set-aside parts nothing."""
        found = sentences(folded)
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
                    if self.reader.base(word) not in self.contrast:
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
        aside = [self.set_aside(words) for _, words, _ in parts]
        # "Not the cost, ..." / "Not exercise, ...": a short opening part that only negates a topic is set aside.
        if len(parts) > 1 and parts[0][1][:1] == ["not"] and len(parts[0][1]) <= NEGATED_OPENING:
            aside[0] = True
        if not all(aside):
            for part, drop in zip(parts, aside):
                part[0] *= not drop
        return parts

    def set_aside(self, words):
        """True when a part opens or closes with a cue that the patient is not asking about it."""
        meanings = [self.reader.canon(word) for word in words]
        if self.openers.opens(meanings) or self.closers.closes(meanings):
            return True
        while meanings and meanings[-1] in self.reader.skippable:  # "the price is fine for us"
            meanings.pop()
        return self.closers.closes(meanings)
