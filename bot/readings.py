"""Numbers a patient writes beside a red flag's word, held against their limits: "fever 103", "bp 80/50", "dast 12 baar".

bot.safety finds the words; this reads the temperature, blood pressure, pulse, count or weights beside them.
"""

import re
from dataclasses import dataclass

from bot.reader import words_of
from bot.spelling import surface


@dataclass(frozen=True)
class Limits:
    """The readings that open the emergency path (settings FEVER_ALARM_C, LOW_BP_SYSTOLIC, FAST_PULSE)."""

    fever_c: float = 38.5
    low_systolic: int = 90
    fast_pulse: int = 130
    times: int = 6  # vomiting or diarrhoea this many times ("12 baar")
    weight_gain: float = 2.0  # kilograms gained, written as two weights ("56 se 59 kilo")


DEFAULT_LIMITS = Limits()

# A number this many words from a fever, pressure or pulse word is read as its value.
READING_REACH = 5
# Readings of a number beside its word, and the red flag each opens when it passes its limit.
READINGS = {"temperature": "fever", "blood_pressure": "low_blood_pressure", "pulse": "fast_pulse"}
# Values a reading can take at all: other numbers beside the word are something else ("fever for 3 days").
_PLAUSIBLE = {"temperature": lambda n: len(n) == 1 and (34 <= n[0] <= 44 or 93 <= n[0] <= 112),
              "blood_pressure": lambda n: 40 <= n[0] <= 260 and (len(n) == 1 or n[1] < n[0]),
              "pulse": lambda n: len(n) == 1 and 20 <= n[0] <= 300}
# Where a clause ends: a number before one of these does not belong to a word after it.
_CLAUSE_BREAKS = {",", ";"}
# A number written with one decimal: in the range of a body temperature, it is one.
_DECIMAL = re.compile(r"\d{2,3}[.,]\d")


class Readings:
    """safety.yaml's `readings` (the words a number is read beside) with the limits a reading must not pass."""

    def __init__(self, words, reader, limits=DEFAULT_LIMITS):
        """`words` maps each kind of reading to its words, `reader` is the red flags' Reader."""
        self.reader, self.limits = reader, limits
        # A unit such as "°" has no letters to read: it is kept as written.
        self.words = {name: {w for word in group for w in reader.read(words_of(word)) or (word,)}
                      for name, group in words.items()}

    def flagged(self, tokens):
        """(red flag, the number) when a number next to its word passes its limit ("fever 103", "bp 80/50",
        "dast 12 baar", "weight 56 se 59 kilo"), else (None, None)."""
        read = self._read(tokens)
        # Vomiting or diarrhoea counted: "dast 12 baar", "vomited 8 times since night".
        counted = self.words.get("times", ())
        if not self.words.get("times_of", set()).isdisjoint(read):
            for i, t in enumerate(read[:-1]):
                if read[i + 1] in counted and _numbers(t) and _numbers(t)[0] >= self.limits.times:
                    return "dehydration", t
        # Weight gained: two weights after the word ("vajan 56 se 59 kilo ho gaya").
        for i, token in enumerate(read):
            if token in self.words.get("weight", ()):
                weights = [t for t in read[i + 1:i + 1 + READING_REACH] if _numbers(t) and 20 <= _numbers(t)[0] <= 250]
                if len(weights) >= 2 and _numbers(weights[-1])[0] - _numbers(weights[0])[0] >= self.limits.weight_gain:
                    return "capillary_leak", weights[-1]
        # "60 year old", "70 kg": a number followed by another unit is not a reading.
        other = self.words.get("not_readings", set())
        read = [t if not (_numbers(t) and i + 1 < len(read) and read[i + 1] in other) else "#"
                for i, t in enumerate(read)]
        for i, token in enumerate(read):
            for name, flag in READINGS.items():
                if token in self.words.get(name, ()):
                    value = _nearest(read, i, name)
                    if value is not None and _alarming(name, value, self.limits):
                        return flag, value
        # A temperature with its unit, or with its decimal, needs no fever word: "103F", "39.5 c", "38.6 hai abhi".
        degrees = self.words.get("degrees", ())
        for i, token in enumerate(read):
            unit = i + 1 < len(read) and read[i + 1] in degrees
            if (unit or _DECIMAL.fullmatch(token)) and _alarming("temperature", token, self.limits):
                return "fever", token
        return None, None

    def _read(self, tokens):
        """Canonical words with the numbers kept whole between them ("blood pressure 80/50" -> "bp", "80/50")."""
        read, run = [], []
        for token in tokens + [""]:
            if token and not _numbers(token) and token not in _CLAUSE_BREAKS:
                run.extend(surface(token) or [token])
                continue
            read.extend(self.reader.read(run))
            run = []
            if token:
                read.append(token)
        return read


def _numbers(token):
    """The numbers of a token ("80/50" -> [80.0, 50.0], "39,8" -> [39.8]); [] for a word."""
    if not token or not token[0].isdigit():
        return []
    return [float(n.replace(",", ".")) for n in re.split(r"\s*/\s*", token)]


def _nearest(tokens, at, name):
    """The plausible value of reading `name` closest to tokens[at] within READING_REACH words (after it on a tie).

    A number before the word is read only within its clause: in "she is 72, has BP" the 72 is her age.
    """
    near = [(abs(i - at), i < at, t) for i, t in enumerate(tokens)
            if 0 < abs(i - at) <= READING_REACH and _numbers(t) and _PLAUSIBLE[name](_numbers(t))
            and not (i < at and _CLAUSE_BREAKS.intersection(tokens[i + 1:at]))]
    return min(near)[2] if near else None


def _alarming(name, value, limits):
    """True when a temperature (°C or °F), blood pressure ("80/50" or its first number) or pulse passes its limit."""
    numbers = _numbers(value)
    if not numbers or not _PLAUSIBLE[name](numbers):
        return False
    first = numbers[0]
    if name == "temperature":
        celsius = first if first <= 44 else (first - 32) * 5 / 9
        return celsius >= limits.fever_c
    if name == "blood_pressure":
        return first < limits.low_systolic
    return first >= limits.fast_pulse
