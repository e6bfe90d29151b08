"""`python -m bot check`: what is wrong with a knowledge file, and what deserves a look, in an editor's words.

Errors are what the running service refuses (everything `knowledge.load` finds) and expectations that
no longer hold; warnings point at phrases, languages and reviews worth a look. Each check below is a
function of a `Source` that yields findings, listed in CHECKS: a new section of the file adds its
structural rules to the loader and, when it needs one, a check here.
"""

import dataclasses
import datetime
from dataclasses import dataclass, field
from pathlib import Path

from bot import knowledge
from bot.knowledge import Knowledge, KnowledgeError, Problem, did_you_mean, locate
from bot.language import is_hinglish

EXPECTATIONS = "expectations.yaml"
# The key of expectations.yaml for phrases that must get the fallback rather than any answer.
FALLBACK = "fallback"
EMERGENCY = "emergency"


@dataclass(frozen=True)
class Finding:
    """One problem, an error or a warning; a loud one is about patient safety and is shown first."""

    severity: str
    problem: Problem
    loud: bool = False
    kind: str = ""  # the check of CHECKS that found it (empty: the loader's)

    def __str__(self):
        label = f"{self.severity.upper()} (patient safety)" if self.loud else self.severity
        return f"{label}: {self.problem}"


@dataclass(frozen=True)
class Source:
    """What the checks look at: the loaded knowledge, its data and the line of each field, and the settings."""

    path: str
    data: dict
    lines: dict
    knowledge: Knowledge
    settings: object
    handled: tuple
    expectations: Path
    expectations_given: bool
    safety: tuple = None  # (text, path, limits) of the red flags

    def at(self, at, message):
        """A Problem at a field of the knowledge file."""
        return locate(self.path, self.lines, at, message)


@dataclass
class Report:
    """Everything `check` found in one knowledge file (and its expectations)."""

    path: str
    findings: list = field(default_factory=list)
    knowledge: Knowledge | None = None
    expectations: str = ""
    expected: int = 0
    expected_failed: int = 0

    @property
    def errors(self):
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self):
        return [f for f in self.findings if f.severity == "warning"]

    def ordered(self):
        """Errors first, then loud warnings, then the rest, each in file order."""
        return sorted(self.findings, key=lambda f: (f.severity != "error", not f.loud, f.problem.path, f.problem.line))

    def summary(self):
        """One line for the end of the output."""
        errors, warnings = len(self.errors), len(self.warnings)
        counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        if not self.expected:
            return counts
        held = self.expected - self.expected_failed
        return f"{counts}; {held} of {self.expected} expectations hold"


def run(path, settings, expectations=None, handled=(), only=None):
    """Check the knowledge file at `path` and its expectations (beside it unless given); `only` names some of CHECKS."""
    path = str(path)
    report = Report(path)
    try:
        data, lines, written_twice = knowledge.read(knowledge.read_text(path, settings.knowledge_max_bytes), path)
        safety = (knowledge.read_text(settings.SAFETY_PATH, settings.knowledge_max_bytes), settings.SAFETY_PATH,
                  settings.safety_limits)
        report.knowledge = knowledge.build(data, lines, path, handled=handled, problems=written_twice, safety=safety,
                                           language=knowledge.language_texts(settings.LANGUAGE_DIR,
                                                                             settings.knowledge_max_bytes))
    except KnowledgeError as exc:
        report.findings = [Finding("error", problem) for problem in exc.problems]
        return report
    given = expectations is not None
    source = Source(path, data, lines, report.knowledge, settings, tuple(handled),
                    Path(expectations) if given else Path(path).with_name(EXPECTATIONS), given, safety)
    for check in only or CHECKS:
        report.findings.extend(dataclasses.replace(finding, kind=check.__name__) for finding in check(source, report))
    return report


# How many groups `closer_to_another_intent` leaves out in turn: one rebuild of the knowledge each.
FOLDS = 10


def closer_to_another_intent(source, report):
    """Phrases that the matcher's engine, with the phrase left out of its intent, gives to another intent.

    Leaving each phrase out alone would rebuild the knowledge once per phrase (thousands of times);
    instead the phrases are split into FOLDS groups by their place in each list, and each group is
    left out at once: FOLDS rebuilds, each phrase matched without itself while every intent keeps
    nine tenths of its phrases.
    """
    intents = source.data["intents"]
    language = knowledge.language_texts(source.settings.LANGUAGE_DIR, source.settings.knowledge_max_bytes)
    for fold in range(FOLDS):
        held_out, trimmed = [], {}
        for intent_id, body in intents.items():
            # The emergency phrases are the red flags' business (see red_flags below), not a topic's.
            if intent_id == EMERGENCY:
                trimmed[intent_id] = body
                continue
            phrases = list(body["phrases"])
            out = set(range(fold, len(phrases), FOLDS)) if len(phrases) > 1 else set()
            held_out += [(intent_id, i, str(phrases[i])) for i in sorted(out)]
            trimmed[intent_id] = {**body, "phrases": [p for i, p in enumerate(phrases) if i not in out]}
        # The engine alone: learning a model for each of FOLDS rebuilds would take too long for an editor.
        matcher = knowledge.build({**source.data, "intents": trimmed}, source.lines, source.path,
                                  handled=source.handled, safety=source.safety, learn=False,
                                  language=language).matcher
        for intent_id, index, phrase in held_out:
            match = matcher.match(phrase)
            if match.intent in (None, intent_id):
                continue
            yield Finding("warning", source.at(("intents", intent_id, "phrases", index), (
                f"'{phrase}' sits closer to '{match.intent}' than to its own intent: without this exact phrase "
                f"the matcher answers it as '{match.intent}' (score {match.score:.0f}). Patients writing something "
                f"like it may get the '{match.intent}' answer. Make it more typical of '{intent_id}', or move it.")))


def red_flags(source, report):
    """The emergency path: safety.yaml reviewed by a clinician, and every emergency phrase of the knowledge opening it."""
    safety_path = source.settings.SAFETY_PATH
    flags = knowledge.read(knowledge.read_text(safety_path, source.settings.knowledge_max_bytes), safety_path)
    data, lines = flags[0], flags[1]
    if not data.get("reviewed_by") or not data.get("reviewed_on"):
        yield Finding("warning", locate(safety_path, lines, ("reviewed_by",), (
            "RED FLAGS: not approved by a clinician (reviewed_by or reviewed_on empty). Once the clinical lead has "
            "approved the red flags, fill in their name and the date.")), loud=True)
    emergency = source.knowledge.intents.get(EMERGENCY)
    for index, phrase in enumerate(emergency.phrases if emergency else ()):
        if not source.knowledge.safety.alarm(phrase):
            yield Finding("warning", source.at(("intents", EMERGENCY, "phrases", index), (
                f"'{phrase}' is an emergency phrase, but the red flags (safety.yaml) do not open the emergency path "
                "for it: a patient writing it would not get the emergency advice. Ask the clinical lead to add its "
                "words to safety.yaml.")), loud=True)


def without_hinglish(source, report):
    """Intents none of whose phrases is Hinglish (Hindi in Latin letters), which many patients write."""
    words = source.knowledge.hinglish_words
    for intent in source.knowledge.intents.values():
        if not any(is_hinglish(phrase, words) for phrase in intent.phrases):
            yield Finding("warning", source.at(("intents", intent.id, "phrases"), (
                "has no Hinglish phrase (Hindi in Latin letters, e.g. 'iska kharcha kitna hai'); patients who "
                "write Hinglish may not be understood. Add a few, using words from hinglish_words.")))


def review(source, report):
    """Clinical governance: every intent names its source and a clinician's review younger than REVIEW_MAX_DAYS."""
    today = datetime.date.today()
    limit = source.settings.REVIEW_MAX_DAYS
    for intent in source.knowledge.intents.values():
        at = ("intents", intent.id)
        loud = intent.id == EMERGENCY
        who = "EMERGENCY WORDING: " if loud else ""
        if not intent.source:
            yield Finding("warning", source.at(at + ("source",), "says nothing about where its facts come from; "
                                                                 "fill in source"))
        if not intent.reviewed_by or not intent.reviewed_on:
            missing = " and ".join(name for name, value in (("reviewed_by", intent.reviewed_by),
                                                             ("reviewed_on", intent.reviewed_on)) if not value)
            yield Finding("warning", source.at(at + ("reviewed_by" if not intent.reviewed_by else "reviewed_on",), (
                f"{who}not reviewed by a clinician ({missing} empty). Once a clinician has approved the reply "
                f"(every language), fill in their name and the date.")), loud=loud)
        elif intent.reviewed_on > today:
            yield Finding("warning", source.at(at + ("reviewed_on",), f"{who}{intent.reviewed_on} is in the future"),
                          loud=loud)
        elif (today - intent.reviewed_on).days > limit:
            yield Finding("warning", source.at(at + ("reviewed_on",), (
                f"{who}the review is {(today - intent.reviewed_on).days} days old (older than REVIEW_MAX_DAYS, "
                f"{limit}): ask {intent.reviewed_by} or another clinician to review the reply again.")), loud=loud)


def expectations(source, report):
    """Phrases of expectations.yaml, each of which must reach its intent (or the fallback) through the matcher."""
    path = str(source.expectations)
    report.expectations = path
    if not source.expectations.exists():
        severity = "error" if source.expectations_given else "warning"
        yield Finding(severity, Problem(path, 0, "", "no expectations file: nothing checks that known phrases "
                                                     "still reach their intent"))
        return
    try:
        data, lines, written_twice = knowledge.read(knowledge.read_text(path, source.settings.knowledge_max_bytes), path)
    except KnowledgeError as exc:
        yield from (Finding("error", problem) for problem in exc.problems)
        return
    yield from (Finding("error", problem) for problem in written_twice)
    if not isinstance(data, dict):
        yield Finding("error", Problem(path, 1, "", "must list intent ids, each with the phrases that must reach it"))
        return
    known = list(source.knowledge.intents) + [FALLBACK]
    for intent_id, phrases in data.items():
        if intent_id not in known:
            advice = did_you_mean(intent_id, known)
            yield Finding("error", locate(path, lines, (intent_id,), f"'{intent_id}' is not an intent of "
                                          f"{Path(source.path).name}" + (f" ({advice})" if advice else "")))
            continue
        if not isinstance(phrases, list) or not phrases:
            yield Finding("error", locate(path, lines, (intent_id,), "needs a list of phrases"))
            continue
        for index, phrase in enumerate(phrases):
            report.expected += 1
            failure = _unexpected(source.knowledge.match(str(phrase)), str(phrase), intent_id)
            if failure:
                report.expected_failed += 1
                yield Finding("error", locate(path, lines, (intent_id, index), failure), loud=EMERGENCY == intent_id)


def _unexpected(match, phrase, expected):
    """Why the match is not the expected one, in an editor's words; None when it is."""
    if expected == FALLBACK:
        return None if match.intent is None else (
            f"'{phrase}' should get the fallback, but is answered as '{match.intent}' (score {match.score:.0f})")
    if match.intent == expected:
        return None
    got = (f"is answered as '{match.intent}' (score {match.score:.0f})" if match.intent
           else f"gets the fallback (nearest: '{match.candidate}', score {match.score:.0f})")
    advice = (" A patient writing this would not get the emergency advice." if expected == EMERGENCY
              else f" Add phrases like it to '{expected}', or find the phrase of '{match.intent}' that draws it."
              if match.intent else f" Add phrases like it to '{expected}'.")
    return f"'{phrase}' should reach '{expected}' but {got}.{advice}"


CHECKS = (red_flags, closer_to_another_intent, without_hinglish, review, expectations)
