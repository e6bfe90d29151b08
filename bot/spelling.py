"""Patient text as comparable words: Devanagari in Latin letters, doubled letters and word endings folded away.

Patients write the same word many ways ("bukhaar", "bukhar", "बुखार"; "effects", "efects", "effect").
Everything here is spelling, not meaning: which words mean the same is in language/synonyms.yaml.
"""

import re
import unicodedata
from functools import lru_cache

_VOWELS = {
    "अ": "a", "आ": "aa", "इ": "i", "ई": "ii", "उ": "u", "ऊ": "uu", "ऋ": "ri",
    "ए": "e", "ऐ": "ai", "ओ": "o", "औ": "au", "ऑ": "o", "ऍ": "e",
}
_MATRAS = {
    "ा": "aa", "ि": "i", "ी": "ii", "ु": "u", "ू": "uu", "ृ": "ri",
    "े": "e", "ै": "ai", "ो": "o", "ौ": "au", "ॉ": "o", "ॅ": "e",
}
_CONSONANTS = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j", "झ": "jh",
    "ञ": "n", "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t", "थ": "th", "द": "d",
    "ध": "dh", "न": "n", "प": "p", "फ": "ph", "ब": "b", "भ": "bh", "म": "m", "य": "y", "र": "r",
    "ल": "l", "व": "v", "श": "sh", "ष": "sh", "स": "s", "ह": "h", "ळ": "l",
}
# A dot under a letter (nukta) marks borrowed sounds; Hinglish writers spell ज़ as z and फ़ as f, but
# क़ीमत as "kimat" and पड़ेगा as "padega", so the others keep their plain letter.
_NUKTA = {"j": "z", "ph": "f"}
_VIRAMA, _NUKTA_SIGN, _VISARGA = "\u094d", "\u093c", "\u0903"
_NASALS = {"\u0902", "\u0901"}  # anusvara, chandrabindu
# Before p, b or m a nasal sign sounds "m": "संबंध", "सम्बन्ध" and "sambandh" are one word, as are "लंबा" and "lamba".
# A nasal sign is written "N" until the letter after it is known.
_NASAL_LABIAL = re.compile(r"N(?=[pbm])")
_DIGITS_AND_DANDA = str.maketrans({**{chr(0x966 + n): str(n) for n in range(10)}, "।": ".", "॥": "."})
# Zero-width joiners only choose how a conjunct is drawn ("क्‍या" is "क्या"): part of the word, and dropped.
_DEVANAGARI_WORD = re.compile(r"[\u0900-\u0963\u0970-\u097f\u200c\u200d]+")

_APOSTROPHES = re.compile(r"['’‘`´]")
_WORD = re.compile(r"[a-z0-9]+")
_DOUBLED = re.compile(r"([a-z])\1+")
# Hinglish writes one sound two ways ("fayda", "phayda"; "zyada", "jyada"; फ़ and फ, ज़ and ज in Devanagari):
# each pair reads as one letter, in patients' words and the phrases alike.
_SOUNDS = (("ph", "f"), ("z", "j"))
_SENTENCE = re.compile(r"[^.?!\n]+[.?!\n]*")
# Endings folded away so "cured", "cures" and "cure" compare equal; the longest that fits is taken.
_ENDINGS = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""), ("ly", ""))
_MIN_STEM = 3


def transliterate(text):
    """Devanagari words in the Latin letters Hinglish writers use ("सांस नहीं" -> "saans nahiin")."""
    return _DEVANAGARI_WORD.sub(lambda found: _latin(found.group()), text.translate(_DIGITS_AND_DANDA))


def _latin(word):
    """One Devanagari word in Latin letters, dropping the silent inherent "a" the way speakers do."""
    syllables = []  # [consonant, vowel, vowel is the inherent "a"]
    for ch in word:
        if ch in _CONSONANTS:
            syllables.append([_CONSONANTS[ch], "a", True])
        elif ch in _VOWELS:
            syllables.append(["", _VOWELS[ch], False])
        elif not syllables:
            continue
        elif ch == _NUKTA_SIGN:
            syllables[-1][0] = _NUKTA.get(syllables[-1][0], syllables[-1][0])
        elif ch in _MATRAS:
            syllables[-1][1:] = [_MATRAS[ch], False]
        elif ch == _VIRAMA:
            syllables[-1][1:] = ["", False]
        elif ch in _NASALS:
            syllables[-1][1:] = [syllables[-1][1] + "N", False]
        elif ch == _VISARGA:
            syllables[-1][1:] = [syllables[-1][1] + "h", False]
    # Schwa deletion: the inherent "a" is not spoken at the end of a word ("dard", not "darda"),
    # nor between two voiced syllables ("kitna", not "kitana"); right to left, as in "samajhna".
    if len(syllables) > 1 and syllables[-1][2]:
        syllables[-1][1] = ""
    for i in range(len(syllables) - 2, 0, -1):
        if syllables[i][2] and syllables[i][0] and syllables[i - 1][1] and syllables[i + 1][1]:
            syllables[i][1] = ""
    latin = "".join(consonant + vowel for consonant, vowel, _ in syllables)
    return _NASAL_LABIAL.sub("m", latin).replace("N", "n")


def fold(text):
    """Lower case, unified Unicode, Devanagari in Latin letters, accents and apostrophes dropped ("can't" -> "cant")."""
    if text.isascii():
        # Most messages: nothing to unify, transliterate or strip of accents, and a letter at a time costs.
        return _APOSTROPHES.sub("", text.lower())
    text = transliterate(unicodedata.normalize("NFKC", text).casefold())
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _APOSTROPHES.sub("", text)


@lru_cache(maxsize=65536)
def spell(word):
    """A word with doubled letters and "ph"/"z" folded ("bukhaar" -> "bukhar", "zyaada" -> "jyada"); numbers are left alone."""
    for written, read in _SOUNDS:
        word = word.replace(written, read)
    return _DOUBLED.sub(r"\1", word)


def surface(text):
    """The words of a folded text, each spelled with `spell`."""
    return [spell(word) for word in _WORD.findall(text)]


def normalise(text):
    """A whole message as comparable text ("Haan!!" -> "han", "हाँ" -> "han"), for fixed words and word lists."""
    return " ".join(surface(fold(text)))


def stem(word):
    """The word without a common English ending ("vomiting" -> "vomit"), keeping at least three letters."""
    if word.isdigit():
        return word
    for ending, replacement in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) + len(replacement) >= _MIN_STEM:
            if ending == "s" and word[-2] in "siu":  # "loss", "virus", "tablets is" stay whole
                return word
            return word[: len(word) - len(ending)] + replacement
    return word


def sentences(text):
    """The sentences of a folded text, each as (text, ends with a question mark)."""
    found = [(m.group().strip(), "?" in m.group()) for m in _SENTENCE.finditer(text)]
    return [(sentence, question) for sentence, question in found if _WORD.search(sentence)]
