"""The intent model's features: TF-IDF blocks of word and character n-grams, and how a text becomes their columns."""

import math
import re
from array import array
from collections import Counter

import numpy as np

from bot.spelling import fold

_WORD = re.compile(r"\w+")
_WORD_CACHE = 50_000  # words whose character n-grams are kept per model: patients can invent words without end


def reading(reader):
    """A normaliser that reads a text as the matcher does: the canonical words of a bot.reader.Reader."""
    from bot.reader import words_of

    return lambda text: " ".join(reader.read(words_of(text)))


def _word_ngrams(low, high):
    def analyse(text):
        words = _WORD.findall(text)
        found = list(words) if low <= 1 else []
        for n in range(max(low, 2), high + 1):
            found += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        return found
    return analyse


def _char_ngrams(low, high):
    """scikit-learn's char_wb n-grams of one word: with a space either side; a word shorter than n counts once."""
    def analyse(word):
        word = f" {word} "
        size, found = len(word), []
        for n in range(low, high + 1):
            if size <= n:
                found.append(word)
                break
            found += [word[i:i + n] for i in range(size - n + 1)]
        return found
    return analyse


class Block:
    """One TF-IDF feature block: its vocabulary (feature -> column), idf, and how a text becomes its columns."""

    def __init__(self, kind, ngrams, source, weight):
        self.kind, self.source, self.weight = kind, source, weight
        self.analyse = _word_ngrams(*ngrams) if kind == "word" else _char_ngrams(*ngrams)
        self.vocabulary, self.idf, self.offset = {}, None, 0
        # Character n-grams lie within one word: each word's columns are kept, so a message costs a lookup a word.
        self._columns_of = {}

    def features(self, text):
        """The text's features, repeated as often as they occur."""
        if self.kind == "word":
            return self.analyse(text)
        return [gram for word in _WORD.findall(text) for gram in self.analyse(word)]

    def fit(self, texts, offset):
        """Learn the vocabulary and idf of the texts (smoothed idf, as TfidfVectorizer); return their CSR matrix.

        One text's counts at a time, into flat arrays: a Python object per feature occurrence would cost tens
        of MB while training, which the process keeps after it.
        """
        from scipy.sparse import csr_matrix

        vocabulary, indices, counts, indptr = {}, array("l"), array("d"), array("l", [0])
        for text in texts:
            for feature, count in Counter(self.features(text)).items():
                indices.append(vocabulary.setdefault(feature, len(vocabulary)))
                counts.append(count)
            indptr.append(len(indices))
        indices, counts, indptr = (np.frombuffer(x, dtype=t)
                                   for x, t in ((indices, np.int_), (counts, np.float64), (indptr, np.int_)))
        df = np.bincount(indices, minlength=len(vocabulary))
        self.offset = offset
        self.vocabulary = {feature: offset + i for feature, i in vocabulary.items()}
        self.idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        values = (1.0 + np.log(counts)) * self.idf[indices]
        rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
        lengths = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(texts)))
        values *= self.weight / np.where(lengths > 0, lengths, 1.0)[rows]
        if self.kind == "char":
            for text in texts:
                for word in _WORD.findall(text):
                    self._word_columns(word)
        return csr_matrix((values, indices, indptr), shape=(len(texts), len(vocabulary)))

    def _word_columns(self, word):
        found = self._columns_of.get(word)
        if found is None:
            vocabulary = self.vocabulary
            found = np.array([vocabulary[g] for g in self.analyse(word) if g in vocabulary], dtype=np.intp)
            if len(self._columns_of) < _WORD_CACHE:
                self._columns_of[word] = found
        return found

    def columns(self, text):
        """(columns, counts) of the text's features that the vocabulary knows."""
        if self.kind == "word":
            vocabulary = self.vocabulary
            cols = [vocabulary[f] for f in self.analyse(text) if f in vocabulary]
            if len(cols) == len(set(cols)):
                return np.array(cols, dtype=np.intp), None
            cols = np.array(cols, dtype=np.intp)
        else:
            words = _WORD.findall(text)
            if not words:
                return np.zeros(0, dtype=np.intp), None
            cols = np.concatenate([self._word_columns(word) for word in words])
        cols, counts = np.unique(cols, return_counts=True)
        return cols, counts

    def _values(self, cols, counts):
        """Sublinear tf times idf, unit length times the block's weight."""
        if not len(cols):
            return np.zeros(0)
        idf = self.idf[cols - self.offset]
        values = idf if counts is None else (1.0 + np.log(counts)) * idf
        return values * (self.weight / math.sqrt(values @ values))

    def vector(self, text):
        cols, counts = self.columns(text)
        # A text of words that no phrase shares gives no columns, and no counts to weigh.
        return cols, self._values(cols, None if counts is None or not len(cols) or counts.max() == 1
                                  else counts.astype(np.float64))


class Features:
    """A model's feature blocks together: what each reads of a text, and the text's columns and values in all of them."""

    def __init__(self, options, normalise):
        """`options` are the model's Options, `normalise` its normaliser (str -> str)."""
        self.normalise = normalise
        self.blocks = []
        if options.word_ngrams:
            self.blocks.append(Block("word", options.word_ngrams, "normalised", 1.0))
        if options.char_ngrams:
            self.blocks.append(Block("char", options.char_ngrams, options.char_source, options.char_weight))
        if not self.blocks:
            raise ValueError("the model needs word or character n-grams")
        self._reads_normalised = any(block.source == "normalised" for block in self.blocks)
        self._reads_folded = any(block.source == "folded" for block in self.blocks)

    def sources(self, text):
        """The texts each block reads: the normaliser's words, and the folded text as written."""
        normalised = self.normalise(text) if self._reads_normalised else None
        folded = None
        if self._reads_folded:
            folded = normalised if normalised is not None and self.normalise is fold else fold(text)
        return {"normalised": normalised, "folded": folded}

    def fit(self, texts):
        """Learn every block's vocabulary from the texts; return their CSR matrix, the blocks side by side."""
        from scipy.sparse import hstack

        sources = [self.sources(text) for text in texts]
        parts, offset = [], 0
        for block in self.blocks:
            parts.append(block.fit([s[block.source] for s in sources], offset))
            offset += len(block.vocabulary)
        return hstack(parts, format="csr") if len(parts) > 1 else parts[0]

    def vector(self, text):
        """(columns, values) of the text's features."""
        sources = self.sources(text)
        if len(self.blocks) == 1:
            return self.blocks[0].vector(sources[self.blocks[0].source])
        cols, vals = zip(*(block.vector(sources[block.source]) for block in self.blocks))
        return np.concatenate(cols), np.concatenate(vals)
