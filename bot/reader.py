"""Spelled words -> canonical words: the synonyms of language/synonyms.yaml, then rapidfuzz spelling correction."""

import re
import weakref
from collections import Counter, defaultdict
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from bot.spelling import fold, spell, stem, surface

# An unknown word of at least 4 letters is read as the known word it is one edit away from (a wrong,
# missing, extra or swapped letter); two edits from 9 letters, three from 13.
SPELLING_EDITS = ((13, 3), (9, 2), (4, 1))
_CACHE_LIMIT = 50_000  # patients can invent words without end
_READ_CACHE = 1024
_VOWELS = re.compile(r"[aeiou]")


def skeleton(word):
    """The word without vowels after its first letter: "treatment" -> "trtmnt"."""
    return word[:1] + _VOWELS.sub("", word[1:])


def _drops_vowels(word, full):
    """True when `word` is `full` with some vowels left out ("avlable" of "available", not "bhasha" of "behosh")."""
    at = 0
    for letter in full:
        if at < len(word) and word[at] == letter:
            at += 1
        elif letter not in "aeiou":
            return False
    return at == len(word)


def words_of(text):
    """The spelled words of any text, as the reader compares them."""
    return surface(fold(text))


class Reader:
    """Turns spelled words into canonical words; everything it knows is built once per knowledge load."""

    def __init__(self, synonyms, ignore, texts, foreign=(), edits=SPELLING_EDITS):
        """`texts` are all the example phrases and cues; `foreign` the ones about other things; `edits` how far
        from a known word a misspelt one may be, by its length."""
        self.edits = edits
        self._bases = {}
        self.synonyms, self.phrases = {}, defaultdict(list)
        for word, variants in synonyms.items():
            for variant in [word, *variants]:
                words = words_of(variant)
                if len(words) == 1:
                    self.synonyms[self.base(words[0])] = self.base(word)
        self.ignore = {self.canon(w) for text in ignore for w in words_of(text)}
        # Phrases compare word meanings, so "hosh nahin" is "hosh nahi"; words that say nothing may sit
        # inside a phrase: "stay in the hospital" is "stay in hospital".
        self.skippable = {w for w in self.ignore if not w.isdigit()}
        for word, variants in synonyms.items():
            for variant in [word, *variants]:
                words = [self.canon(w) for w in words_of(variant)]
                inner = words[:1] + [w for w in words[1:] if w not in self.skippable]
                words = tuple(inner if len(inner) > 1 else words)
                if len(words) > 1:
                    self.phrases[words[0]].append((words, self.base(word)))
        for entries in self.phrases.values():
            entries.sort(key=lambda entry: -len(entry[0]))

        everything = list(texts) + list(ignore) + list(synonyms)
        everything += [variant for variants in synonyms.values() for variant in variants]
        seen = Counter(w for text in everything for w in words_of(text))
        self.known = {word: self.canon(word) for word in seen}
        self.meanings = set(self.known.values())
        # Spelling is corrected toward words of our own topics only: "watch" must not become "match" (cricket).
        home = Counter(w for text in everything for w in words_of(text))
        home.subtract(w for text in foreign for w in words_of(text))
        # Indexed by first letter (typos rarely hit it); most used first, so a tie goes to the common word.
        self.vocabulary, self.skeletons = defaultdict(list), {}
        for word in sorted(seen, key=lambda w: (-seen[w], w)):
            if len(word) >= 3 and not word.isdigit() and (home[word] > 0 or word not in home):
                self.vocabulary[word[0]].append(word)
                if len(skeleton(word)) >= 3:
                    self.skeletons.setdefault(skeleton(word), word)
        self._corrected = {}
        # A message is read more than once (for emergency signs, then by parts and by its question alone),
        # and many messages are alike ("hi", "cost?"): the most recent readings are kept. The cache holds
        # the reader weakly: a bound method would make a cycle, which outlives a replaced knowledge file
        # in a worker that froze what it loaded (gunicorn.conf.py).
        read_words = weakref.WeakMethod(self._read_words)
        self._read = lru_cache(maxsize=_READ_CACHE)(lambda words: read_words()(words))

    def base(self, word):
        """A spelled word without its English ending ("vomiting" -> "vomit")."""
        found = self._bases.get(word)
        if found is None:
            found = stem(spell(word))
            if len(self._bases) < _CACHE_LIMIT:
                self._bases[word] = found
        return found

    def canon(self, word):
        """The canonical form of one spelled word, before any spelling correction."""
        base = self.base(word)
        return self.synonyms.get(base, base)

    def read(self, words):
        """Canonical words (a tuple) for a list of spelled words: phrase synonyms first, then word by word."""
        return self._read(tuple(words))

    def _read_words(self, words):
        """`read` itself, for a tuple of spelled words, before its readings are kept."""
        meanings = [self.canon(word) for word in words]
        corrected = [self.correct(word) for word in words]
        typos = corrected != meanings
        out, i = [], 0
        while i < len(words):
            # As written first, then as corrected: a typo inside a phrase ("not respondng") keeps the phrase.
            found = self._phrase_at(meanings, i) or (typos and self._phrase_at(corrected, i))
            if found:
                target, i = found
                out.append(target)
            else:
                out.append(corrected[i])
                i += 1
        return tuple(out)

    def _phrase_at(self, meanings, start):
        """(meaning, end) of the longest phrase synonym that starts at `start`, or None."""
        for phrase, target in self.phrases.get(meanings[start], ()):
            end = self._phrase_end(meanings, start, phrase)
            if end:
                return target, end
        return None

    def _phrase_end(self, meanings, start, phrase):
        """Where the phrase ends when it starts at `start`, skipping words that say nothing; else None."""
        at = start
        for part in phrase:
            while start < at < len(meanings) and meanings[at] != part and meanings[at] in self.skippable:
                at += 1
            if at >= len(meanings) or meanings[at] != part:
                return None
            at += 1
        return at

    def correct(self, word):
        """The canonical form of a word, corrected to the nearest known word when it is unknown."""
        found = self.known.get(word) or self._corrected.get(word)
        if found:
            return found
        found = self.canon(word)
        edits = next((n for length, n in self.edits if len(word) >= length), 0)
        # "says" is "say", a known word: only a word unknown even without its ending is misspelt.
        if found not in self.meanings and not word.isdigit():
            # SMS writing drops vowels: "trtmnt", "avlable", "therpy".
            full = self.skeletons.get(skeleton(word), "") if len(skeleton(word)) >= 3 else ""
            shortened = _drops_vowels(word, full)
            # Written without any vowel ("chst"), the word it is the skeleton of comes before any one-edit
            # neighbour ("cost" is one edit from "chst" too).
            vowelless = shortened and skeleton(word) == word
            near = not vowelless and edits and process.extract(
                word, self.vocabulary.get(word[0], ()), limit=None, scorer=DamerauLevenshtein.distance, score_cutoff=edits)
            if near:
                # Among the nearest, the most alike: "mony" is "money" rather than "many"; then the most used.
                best = min(near, key=lambda hit: (hit[1], -fuzz.ratio(word, hit[0]), hit[2]))
                found = self.known[best[0]]
            elif shortened:
                found = self.known[full]
        if len(self._corrected) < _CACHE_LIMIT:
            self._corrected[word] = found
        return found
