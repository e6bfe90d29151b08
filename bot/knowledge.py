"""Load and check responses.yaml into an immutable Knowledge; reload it when the file changes."""

import dataclasses
import datetime
import difflib
import hashlib
import logging
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from types import MappingProxyType

import yaml

from bot import safety as red_flags
from bot.matcher import EMERGENCY, Match, Matcher, Rules
from bot.spelling import fold, normalise, stem, surface

log = logging.getLogger(__name__)

REQUIRED_INTENTS = (
    "greeting", "about_therapy", "how_it_works", "benefits", "cancer_types", "side_effects",
    "manage_side_effects", "comparison", "administration", "duration", "what_to_expect", "research",
    "eligibility", "nutrition", "lifestyle", "costs", "insurance", "financial_assistance",
    "support_groups", "human_handoff", "emergency", "thanks_goodbye", "opt_out",
)
REQUIRED_MESSAGES = (
    "fallback", "clarify", "menu_header", "media", "too_long", "empty", "unavailable",
    "welcome", "menu", "followups_header", "more_hint", "nothing_more", "unknown_choice", "list_button",
    "location", "opted_in", "forget_confirm", "forgotten", "forget_kept", "language_set",
    "handoff_offer", "handoff_waiting", "handoff_after_hours", "handoff_claimed", "handoff_returned",
    "handoff_cancelled", "alert_new", "alert_urgent", "alert_again", "rate_limited", "stop_confirm", "self_harm",
    "emergency_in_hours", "emergency_after_hours",
)
# Replies that are not an answer (not understood, which topic?, a person offered, ...) are where a patient in
# trouble may stop reading: each must carry the emergency numbers, in every language.
NOT_ANSWERS = ("fallback", "clarify", "handoff_offer", "handoff_after_hours", "unknown_choice", "nothing_more",
               "media", "location", "too_long", "empty", "stop_confirm", "self_harm")
# What the emergency replies must say, whoever edits them: the numbers, and when a person will write.
MUST_SAY = {"emergency": ("emergency_numbers", "when_answered"),
            "self_harm": ("emergency_numbers", "mental_health_helpline", "when_answered")}
# Words with one fixed meaning, compared whole (capitals and punctuation ignored), never guessed at.
REQUIRED_COMMANDS = ("more", "menu", "stop", "start", "yes", "no", "hindi", "english", "forget", "cancel")
# Reply languages: English is required wherever there is wording; any other falls back to it.
LANGUAGES = ("en", "hi")
TOP_FIELDS = {
    "notice_version": "version of messages.welcome, recorded for each patient who saw it",
    "menu": "list of intent ids",
    "messages": "wording not tied to an intent",
    "commands": "fixed words: MORE, MENU, STOP, START, YES, NO, HINDI, ENGLISH, delete my data, cancel the wait",
    "hinglish_words": "words that mark a message in Latin letters as Hinglish",
    "coordinator_replies": "canned replies offered in the coordinators' console",
    "intents": "the topics",
}
# The language files (language/): each field of bot.matcher.Rules, all optional, each in one of the files.
MATCHING_LISTS = ("ignore", "contrast", "set_aside_openers", "set_aside_closers", "out_of_scope", "anchors", "mentions",
                  "other_subjects", "comparing", "not_pointing")
MATCHING_FIELDS = {"synonyms": "word: the words that mean the same",
                   "strict": "intent: the lead (0-100) it needs over the runner-up",
                   **{name: "list of words or phrases" for name in MATCHING_LISTS}}
INTENT_FIELDS = {
    "title": "short name for menus",
    "phrases": "example messages",
    "reply": "what the assistant answers: text, a list of pages, or either per language (en, hi)",
    "followups": "related intent ids offered after the reply",
    "source": "where the facts come from",
    "reviewed_by": "clinical reviewer",
    "reviewed_on": "date of review, YYYY-MM-DD",
}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The red flags that open the emergency path: safety.yaml, owned by the clinic, beside this project's code.
SAFETY_PATH = os.path.join(_ROOT, "safety.yaml")
# How patients' words are read (synonyms, cues, out-of-scope examples): developers' files, in language/.
LANGUAGE_DIR = os.path.join(_ROOT, "language")
LANGUAGE_FILES = ("synonyms.yaml", "reading.yaml", "out_of_scope.yaml")
MAX_REPLY = 1000
MAX_TITLE = 20
# Placeholders the app fills in; any other {word} in a reply is a typo an editor should hear about.
PLACEHOLDERS = {"menu", "options", "emergency_numbers", "page", "pages", "coordinator", "opens", "number", "waited", "console",
                "mental_health_helpline", "when_answered"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(text, **values):
    """Replace the {placeholders} given in `values`, leaving any other braces as they are."""
    return _PLACEHOLDER.sub(lambda found: str(values.get(found[1], found[0])), text)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as editors expect it: only true/false are booleans, so yes, no, on and off stay words; dates stay
    text (checked where a date is expected), so an impossible one such as 2025-02-30 is named, not a crash.
    Parsed by libyaml where PyYAML has it (several times faster on safety.yaml's long lists)."""

    def construct_object(self, node, deep=False):
        """A value Python cannot hold (a number of 5,000 digits, `!!int abc`) is a YAML error at its line."""
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            written = node.value if isinstance(node.value, str) else ""
            shown = written if len(written) <= 30 else written[:30] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown!r} cannot be read as {node.tag.rpartition(':')[2]} ({str(exc).partition(':')[0]}); "
                "put it in quotes to keep it as text", node.start_mark) from None


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


# What a knowledge, red-flag or language file may be: today's are well under a megabyte and a dozen levels deep,
# and none repeats a part by alias. Beyond these a file is refused before it is built, so a careless or hostile
# edit (a 50 MB paste, 20,000 nested brackets, an alias bomb of a few hundred bytes) costs milliseconds.
MAX_FILE_BYTES = 4 * 2**20  # KNOWLEDGE_MAX_MB's default, for callers without settings
MAX_DEPTH = 40
MAX_REPEATED = 10_000  # values that aliases (*name) may repeat, in all


class KnowledgeError(Exception):
    """The knowledge file is broken; `problems` lists each one with its file and line."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the knowledge file, where an editor can find it."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self):
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class Intent:
    """One topic: its example phrases, and its title and reply pages per language."""

    id: str
    titles: MappingProxyType
    phrases: tuple
    pages: MappingProxyType
    followups: tuple = ()
    # Clinical governance: where the facts come from, and who checked the reply and when (None until reviewed).
    source: str | None = None
    reviewed_by: str | None = None
    reviewed_on: datetime.date | None = None

    @property
    def title(self):
        """The English title."""
        return self.titles["en"]

    @property
    def reply(self):
        """The English reply's first page."""
        return self.pages["en"][0]


@dataclass(frozen=True)
class Knowledge:
    """Everything the assistant knows and says, as loaded from one version of the file."""

    path: str
    intents: MappingProxyType
    menu: tuple
    messages: MappingProxyType
    matcher: Matcher
    # The red flags (safety.yaml): checked before any topic.
    safety: red_flags.Safety
    commands: MappingProxyType
    hinglish_words: frozenset
    notice_version: str
    coordinator_replies: tuple

    def message(self, name, lang="en"):
        """A message in `lang`, or in English when it has no translation."""
        texts = self.messages[name]
        return texts.get(lang) or texts["en"]

    def pages(self, intent_id, lang="en"):
        """An intent's reply pages in `lang`, or in English when it has no translation."""
        pages = self.intents[intent_id].pages
        return pages.get(lang) or pages["en"]

    def title(self, intent_id, lang="en"):
        """An intent's menu title in `lang`, or in English."""
        titles = self.intents[intent_id].titles
        return titles.get(lang) or titles["en"]

    def command(self, text):
        """The command a whole message is (e.g. "more", "stop"), or None."""
        return self.commands.get(normalise(text))

    def match(self, text):
        """How the assistant reads a message: a red flag first (the emergency path), otherwise its topic."""
        if self.safety.alarm(text):
            return Match(EMERGENCY, 100.0, EMERGENCY)
        return self.matcher.match(text)



@dataclass(frozen=True)
class Engine:
    """The matcher of any knowledge file, and the red flags when its intents include the emergency one."""

    path: str
    matcher: Matcher
    safety: object = None

    def match(self, text):
        """A red flag first (where there are red flags), otherwise the topic."""
        if self.safety is not None and self.safety.alarm(text):
            return Match(EMERGENCY, 100.0, EMERGENCY)
        return self.matcher.match(text)


def engine(path, safety_path=SAFETY_PATH, limits=red_flags.DEFAULT_LIMITS, language=None, max_bytes=MAX_FILE_BYTES):
    """The Engine of any knowledge file: `intents: {ID: {phrases: [...]}}` is enough, with an optional top-level
    `out_of_scope: [...]` of messages about none of them; what else the file holds is this clinic's business. The
    language files of the folder `language` (none by default) read its words. KnowledgeError names file and line."""
    path = str(path)
    data, lines, problems = read(read_text(path, max_bytes), path)
    checker = _Checker(path, lines, problems)
    raw = data.get("intents") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        checker.problem(("intents",), "must map each intent id to its phrases: intents: {ID: {phrases: [...]}}")
        raise KnowledgeError(problems)
    phrases = {}
    for intent_id, body in raw.items():
        # A phrase written twice is an editor's slip in this clinic's file, and no harm to the matcher.
        found = checker.phrases(body.get("phrases") if isinstance(body, dict) else None, ("intents", intent_id, "phrases"),
                                unique=False)
        phrases[str(intent_id)] = found
    outside = checker.words(data.get("out_of_scope"), ("out_of_scope",))
    rules = checker.language(read_language(language_texts(language, max_bytes), problems), phrases)
    if problems:
        raise KnowledgeError(problems)
    rules = dataclasses.replace(rules, out_of_scope=tuple(rules.out_of_scope) + tuple(outside))
    flags = None
    if EMERGENCY in phrases:
        flags, found = red_flags.build(read_text(safety_path, max_bytes), safety_path, limits,
                                       [p for group in phrases.values() for p in group],
                                       [p for i, group in phrases.items() if i != EMERGENCY for p in group]
                                       + list(rules.out_of_scope), phrases[EMERGENCY])
        if found:
            raise KnowledgeError(found)
    return Engine(path, _matcher(phrases, rules, True), flags)


def load(path, required=REQUIRED_INTENTS, handled=(), safety_path=SAFETY_PATH, limits=red_flags.DEFAULT_LIMITS,
         language=LANGUAGE_DIR, max_bytes=MAX_FILE_BYTES):
    """Read and check the knowledge file, the red flags and the language files (of the folder `language`, none when
    it is empty), each at most `max_bytes`; raise KnowledgeError naming file, line and field."""
    return parse(read_text(path, max_bytes), path, required, handled, (read_text(safety_path, max_bytes), safety_path, limits),
                 language_texts(language, max_bytes))


def read_text(path, max_bytes=MAX_FILE_BYTES):
    """The file's text, or KnowledgeError when it cannot be read or is larger than `max_bytes`."""
    try:
        # A file far too large is refused before it is read.
        size = os.path.getsize(path)
        if size > max_bytes:
            raise KnowledgeError([Problem(str(path), 0, "", f"the file is {size / 2**20:.1f} MB; at most "
                                          f"{max_bytes / 2**20:g} MB is read (KNOWLEDGE_MAX_MB; is it the right file?)")])
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError([Problem(str(path), 0, "", f"cannot read the file ({exc})")]) from None


def parse(text, path="responses.yaml", required=REQUIRED_INTENTS, handled=(), safety=None, language=LANGUAGE_DIR):
    """Check YAML text and build Knowledge from it; `handled` lists the intents that have a handler in intents/.

    `safety` is (text, path, limits) of the red flags, by default the project's safety.yaml; `language` the folder
    of the language files, by default the project's (none when empty), or their texts by path.
    """
    data, lines, written_twice = read(text, path)
    return build(data, lines, path, required, handled, written_twice, safety, language=language)


def read(text, path="responses.yaml"):
    """(data, the line of every field, keys written twice) from YAML text; a syntax error is a KnowledgeError."""
    path = str(path)
    try:
        refused = _screen(text, path)
        if refused:
            raise KnowledgeError([refused])
        # Parsed once: the nodes give each field's line, and the data is built from the same nodes.
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and start.line + 1 != line:
            # Where the broken part starts (an unclosed bracket or quote) is where the editor should look.
            reason += f" ({context}, which starts on line {start.line + 1})"
        raise KnowledgeError([Problem(path, line, "", f"YAML syntax error: {reason}")]) from None
    lines, problems = {}, []
    if root is not None:
        _walk(root, (), lines, problems, path)
    return data, lines, problems


def _screen(text, path):
    """The Problem that makes the text unsafe to build (too deep, aliases that repeat too much), or None.

    Reads the parser's events only, which costs no memory however the aliases would multiply: each alias
    counts the values of the part it repeats, and the levels it adds where it stands.
    """
    values, repeated = 0, 0
    parts = {}  # anchor: (values, levels) of each part closed so far
    open_parts = []  # [anchor, values before it, levels of its deepest child] of each list or map still open
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(open_parts) == MAX_DEPTH:
                return Problem(path, line, "", f"lists and maps nested more than {MAX_DEPTH} levels deep")
            open_parts.append([event.anchor, values, 0])
            values += 1
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, before, deepest = open_parts.pop()
            if anchor:
                parts[anchor] = (values - before, deepest + 1)
            if open_parts:
                open_parts[-1][2] = max(open_parts[-1][2], deepest + 1)
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor:
                parts[event.anchor] = (1, 0)
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _, _ in open_parts):
                return Problem(path, line, "", f"*{event.anchor} stands inside the part it repeats, which would "
                                               "never end; write the part out")
            if event.anchor not in parts:
                continue  # an alias of no anchor: the parser names it
            count, levels = parts[event.anchor]
            repeated += count
            values += count
            if repeated > MAX_REPEATED:
                return Problem(path, line, "", f"aliases (*{event.anchor} and the others) repeat more than "
                                               f"{MAX_REPEATED:,} values; write the parts out")
            if len(open_parts) + levels > MAX_DEPTH:
                return Problem(path, line, "", f"lists and maps nested more than {MAX_DEPTH} levels deep "
                                               f"(*{event.anchor} adds {levels})")
            if open_parts:
                open_parts[-1][2] = max(open_parts[-1][2], levels)
    return None


def build(data, lines, path="responses.yaml", required=REQUIRED_INTENTS, handled=(), problems=(), safety=None, learn=True,
          language=LANGUAGE_DIR):
    """Knowledge from data read by `read`; KnowledgeError lists every problem (and those given), each with its line.

    `learn=False` builds the matcher's engine alone, without the model learnt from the phrases (see Matcher).
    """
    problems = list(problems)
    text, safety_path, limits = safety or (read_text(SAFETY_PATH), SAFETY_PATH, red_flags.DEFAULT_LIMITS)
    files = read_language(language, problems)
    knowledge = _Checker(str(path), lines, problems, learn).build(data, required, handled, files)
    # The topics' words are known to the red flags' reader, so that "main" is never corrected into "pain"; their
    # phrases and the out-of-scope examples are calm messages to the learnt reader, the emergency phrases alarming ones.
    intents = knowledge.intents.values() if knowledge else ()
    known = [p for i in intents for p in i.phrases]
    calm = [p for i in intents if i.id != EMERGENCY for p in i.phrases]
    calm += list(knowledge.matcher.rules.out_of_scope) if knowledge else []
    alarming = [p for i in intents if i.id == EMERGENCY for p in i.phrases]
    flags, found = red_flags.build(text, safety_path, limits, known, calm, alarming)
    problems += found
    if problems:
        raise KnowledgeError(problems)
    return dataclasses.replace(knowledge, safety=flags)


def read_language(language, problems=None):
    """[(path, data, lines)] of the language files: `language` is their folder ([] when it is empty; a file it lacks
    is left out) or their texts by path; a file that cannot be read or parsed adds its problem to `problems`, or
    raises KnowledgeError when none is given."""
    texts = language if isinstance(language, dict) else dict.fromkeys(_language_paths(language))
    files = []
    for path, text in texts.items():
        try:
            data, lines, twice = read(read_text(path) if text is None else text, path)
        except KnowledgeError as exc:
            if problems is None:
                raise
            problems.extend(exc.problems)
            continue
        if problems is not None:
            problems.extend(twice)
        files.append((path, data, lines))
    return files


def language_texts(folder, max_bytes=MAX_FILE_BYTES):
    """{path: text} of the language files in `folder` ({} when it is empty), read at once."""
    return {path: read_text(path, max_bytes) for path in _language_paths(folder)}


def _language_paths(folder):
    # A folder may hold some of the files: the others' entries are empty.
    paths = (os.path.join(folder, name) for name in LANGUAGE_FILES) if folder else ()
    return [path for path in paths if os.path.exists(path)]


def language_stamps(folder):
    """The stamps of the language files, so that an edit of one reloads the knowledge."""
    return tuple(_stamp(os.path.join(folder, name)) for name in LANGUAGE_FILES) if folder else ()


def _walk(node, at, lines, problems, path):
    """Record the line of every field, and reject keys written twice (YAML would keep the last silently)."""
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            name = key.value
            if name in seen:
                problems.append(Problem(path, key.start_mark.line + 1, _dotted(at + (name,)), "written twice; keep one"))
            seen.add(name)
            _walk(value, at + (name,), lines, problems, path)
            lines[at + (name,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, at + (index,), lines, problems, path)


def _dotted(at):
    return ".".join(str(part) for part in at)


def locate(path, lines, at, message):
    """A Problem at field `at` (a tuple of keys), on its line or the line of its nearest written parent."""
    line = next((lines[at[:n]] for n in range(len(at), -1, -1) if at[:n] in lines), 0)
    return Problem(path, line, _dotted(at), message)


# Matchers built from the same phrases and rules, while anything still uses them: each process trains a model
# once per version of the knowledge, however often it is loaded (the command line's checks, the tests). Weakly
# held, so a version no longer used is freed.
_MATCHERS = weakref.WeakValueDictionary()


def _matcher(phrases_by_intent, rules, learn):
    """The Matcher of these phrases and rules: one already built, or a new one."""
    key = hashlib.sha256(repr((sorted(phrases_by_intent.items()), rules, learn)).encode()).hexdigest()
    matcher = _MATCHERS.get(key)
    if matcher is None:
        matcher = _MATCHERS[key] = Matcher(phrases_by_intent, rules, learn=learn)
    return matcher


class _Checker:
    """Builds Knowledge from parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self, path, lines, problems, learn=True):
        self.path, self.lines, self.problems, self.learn = path, lines, problems, learn
        # Each phrase (as the matcher sees it) and where it was first written: the same phrase twice is ambiguous.
        self.phrase_at = {}

    def problem(self, at, message):
        self.problems.append(locate(self.path, self.lines, at, message))

    def build(self, data, required, handled=(), language=()):
        if not isinstance(data, dict):
            self.problem((), "the file must be a mapping with menu, messages and intents")
            return None
        if "matching" in data:
            self.problem(("matching",), "how patients' words are read is no longer part of this file: it lives in "
                                        "language/ (synonyms.yaml, reading.yaml, out_of_scope.yaml), kept by "
                                        "developers; remove the section here")
        self.unknown_keys({k: v for k, v in data.items() if k != "matching"}, (), TOP_FIELDS)
        intents = self.intents(data.get("intents"), required)
        for intent_id in handled:
            if intent_id not in intents:
                self.problem(("intents",), f"intents/ has a handler for '{intent_id}', but there is no intent "
                                           f"'{intent_id}': put the intent back (a developer removes handlers)")
        messages = self.messages(data.get("messages"))
        menu = self.references(data.get("menu"), ("menu",), intents)
        commands = self.commands(data.get("commands"))
        hinglish = self.words(data.get("hinglish_words"), ("hinglish_words",))
        version = data.get("notice_version")
        if not isinstance(version, (str, int, float)) or not str(version).strip():
            self.problem(("notice_version",), "must name the version of messages.welcome, e.g. 2025-06-01")
        canned = self.canned(data.get("coordinator_replies"))
        rules = self.language(language, intents)
        if self.problems:
            return None
        return Knowledge(
            path=self.path,
            intents=MappingProxyType(intents),
            menu=tuple(menu),
            messages=MappingProxyType(messages),
            matcher=_matcher({i.id: i.phrases for i in intents.values()}, rules, self.learn),
            safety=None,
            commands=MappingProxyType(commands),
            hinglish_words=frozenset(normalise(w) for w in hinglish),
            notice_version=str(version).strip(),
            coordinator_replies=tuple(canned),
        )

    def unknown_keys(self, mapping, at, known):
        for key in mapping:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                advice = f"did you mean '{hint[0]}'?" if hint else f"known fields: {', '.join(known)}"
                self.problem(at + (key,), f"unknown field '{key}'; {advice}")

    def intents(self, raw, required):
        if not isinstance(raw, dict) or not raw:
            self.problem(("intents",), "must list the intents, each under its id")
            return {}
        for missing in [i for i in required if i not in raw]:
            self.problem(("intents",), f"required intent '{missing}' is missing")
        intents = {}
        for intent_id, body in raw.items():
            at = ("intents", intent_id)
            if not isinstance(body, dict):
                self.problem(at, "must be a mapping with phrases and reply")
                continue
            self.unknown_keys(body, at, INTENT_FIELDS)
            phrases = self.phrases(body.get("phrases"), at + ("phrases",))
            pages = self.per_language(body.get("reply"), at + ("reply",), self.pages)
            titles = self.per_language(
                body.get("title") or str(intent_id).replace("_", " ").capitalize(), at + ("title",), self.title)
            intents[intent_id] = Intent(intent_id, MappingProxyType(titles), phrases, MappingProxyType(pages),
                                        tuple(body.get("followups") or ()), *self.review(body, at))
        for intent in intents.values():
            self.references(list(intent.followups), ("intents", intent.id, "followups"), intents)
        if EMERGENCY in intents:
            self.says(intents[EMERGENCY].pages, ("intents", EMERGENCY, "reply"), MUST_SAY[EMERGENCY],
                      "is the emergency reply and must give them")
        return intents

    def phrases(self, raw, at, unique=True):
        """The phrases of one intent; `unique`: a phrase written twice (here or under another intent) is a problem."""
        if not isinstance(raw, list) or not raw:
            self.problem(at, "needs at least one example phrase")
            return ()
        good = []
        for index, phrase in enumerate(raw):
            if isinstance(phrase, (int, float)) and not isinstance(phrase, bool):
                phrase = str(phrase)  # "112" or "1" are fine phrases; YAML reads them as numbers
            if not isinstance(phrase, str) or not normalise(phrase):
                self.problem(at + (index,), "each phrase must be text with at least one letter or digit")
                continue
            if unique:
                self.unique(phrase, at + (index,))
            good.append(phrase)
        return tuple(good)

    def unique(self, phrase, at):
        """A phrase under two intents (capitals and punctuation ignored) makes the answer a coin toss."""
        key = normalise(phrase)
        first = self.phrase_at.setdefault(key, at)
        if first == at:
            return
        where = f"line {self.lines[first]}" if first in self.lines else _dotted(first)
        if first[1] == at[1]:
            self.problem(at, f"'{phrase}' is already a phrase of this intent ({where}); keep one")
        else:
            self.problem(at, f"'{phrase}' is also a phrase of '{first[1]}' ({where}); keep it under one intent")

    def review(self, body, at):
        """(source, reviewed_by, reviewed_on): text, a name and a date, each optional until the clinic fills it in."""
        values = []
        for name in ("source", "reviewed_by"):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                self.problem(at + (name,), "must be text, or null while not known")
                value = None
            values.append(value.strip() if value else None)
        day = body.get("reviewed_on")
        if day is not None:
            try:
                day = datetime.datetime.strptime(str(day).strip(), "%Y-%m-%d").date()
            except ValueError:
                self.problem(at + ("reviewed_on",), f"'{day}' is not a date written YYYY-MM-DD (e.g. 2025-06-01); "
                                                    "leave it null until the review is done")
                day = None
        return (*values, day)

    def per_language(self, raw, at, check):
        """Text for English only, or a mapping {en: ..., hi: ...}; `check` reads each language's value."""
        if not isinstance(raw, dict):
            return {"en": check(raw, at)}
        for lang in raw:
            if lang not in LANGUAGES:
                self.problem(at + (lang,), f"unknown language '{lang}'; known: {', '.join(LANGUAGES)}")
        if "en" not in raw:
            self.problem(at, "needs the English text under 'en' (other languages fall back to it)")
        return {lang: check(value, at + (lang,)) for lang, value in raw.items() if lang in LANGUAGES}

    def pages(self, raw, at):
        """One text, or a list of pages sent one at a time (the patient replies MORE for the next)."""
        if isinstance(raw, list):
            if not raw:
                self.problem(at, "a list of pages needs at least one page")
            return tuple(self.text(page, at + (index,)) for index, page in enumerate(raw))
        return (self.text(raw, at),)

    def title(self, raw, at):
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TITLE:
            self.problem(at, f"must be text of at most {MAX_TITLE} characters (WhatsApp button limit)")
            return ""
        return raw.strip()

    def text(self, raw, at):
        if not isinstance(raw, str) or not raw.strip():
            self.problem(at, "must be non-empty text")
            return ""
        if len(raw) > MAX_REPLY:
            self.problem(at, f"is {len(raw)} characters; WhatsApp messages here must stay under {MAX_REPLY}")
        for name in set(re.findall(r"\{(\w*)\}", raw)) - PLACEHOLDERS:
            self.problem(at, f"unknown placeholder {{{name}}}; known: {', '.join(sorted(PLACEHOLDERS))}")
        return raw.strip()

    def messages(self, raw):
        if not isinstance(raw, dict):
            self.problem(("messages",), f"must be a mapping with {', '.join(REQUIRED_MESSAGES)}")
            return {}
        for name in REQUIRED_MESSAGES:
            if name not in raw:
                self.problem(("messages",), f"required message '{name}' is missing")
        # The list button's label is shown on a WhatsApp button, so it has a title's limit.
        messages = {name: MappingProxyType(self.per_language(
                        value, ("messages", name), self.title if name == "list_button" else self.text))
                    for name, value in raw.items()}
        for name in NOT_ANSWERS:
            self.says(messages.get(name, {}), ("messages", name), ("emergency_numbers",),
                      "is not an answer, so it must give the emergency numbers too")
        self.says(messages.get("self_harm", {}), ("messages", "self_harm"), MUST_SAY["self_harm"], "must give them")
        return messages

    def says(self, texts, at, placeholders, why):
        """Each language's text (all its pages) must hold every one of `placeholders`."""
        for lang, text in texts.items():
            text = "\n".join(text) if isinstance(text, tuple) else text
            for name in placeholders:
                if "{" + name + "}" not in text:
                    self.problem(at + (lang,), f"has no {{{name}}}: it {why} (see the placeholders at the top of the file)")

    def commands(self, raw):
        """{normalised phrase: command name}; a phrase under two commands would be ambiguous."""
        if not isinstance(raw, dict):
            self.problem(("commands",), f"must be a mapping with {', '.join(REQUIRED_COMMANDS)}")
            return {}
        self.unknown_keys(raw, ("commands",), {name: "" for name in REQUIRED_COMMANDS})
        for name in REQUIRED_COMMANDS:
            if name not in raw:
                self.problem(("commands",), f"required command '{name}' is missing")
        owner = {}
        for name in REQUIRED_COMMANDS:
            at = ("commands", name)
            for index, phrase in enumerate(self.words(raw.get(name), at)):
                key = normalise(phrase)
                if owner.get(key, name) != name:
                    self.problem(at + (index,), f"'{phrase}' is also under '{owner[key]}'; keep it in one")
                owner[key] = name
        return owner

    def canned(self, raw):
        """[(title, {lang: text})]: the console offers each text in the patient's language, else in English."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(("coordinator_replies",), "must be a list of replies, each with a title and a text")
            return []
        canned = []
        for index, item in enumerate(raw):
            at = ("coordinator_replies", index)
            if not isinstance(item, dict) or not isinstance(item.get("title"), str) or not item["title"].strip():
                self.problem(at, "needs a title (the button in the console) and a text")
                continue
            self.unknown_keys(item, at, {"title": "button label", "text": "the reply"})
            texts = self.per_language(item.get("text"), at + ("text",), self.text)
            canned.append((item["title"].strip(), MappingProxyType(texts)))
        return canned

    def references(self, raw, at, intents):
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(at, "must be a list of intent ids")
            return []
        for index, ref in enumerate(raw):
            if ref not in intents:
                hint = difflib.get_close_matches(str(ref), list(intents), n=1)
                advice = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.problem(at + (index,), f"points at intent '{ref}', which does not exist{advice}")
        return raw

    def language(self, files, intents):
        """The Rules of the language files, each (path, data, lines) read by `read`: each checked with its own lines."""
        fields, ignore_at, checkers = {}, None, []
        for path, data, lines in files:
            checker = _Checker(path, lines, self.problems)
            found = checker.matching(data, intents, at=())
            checkers.append(checker)
            for name, value in vars(found).items():
                if value:
                    fields[name] = value
                    if name == "ignore":
                        ignore_at = checker
        rules = Rules(**fields)
        # Words ignored in one file must not carry a meaning through another's synonyms.
        if ignore_at is not None:
            ignore_at.ignored(list(rules.ignore), rules.synonyms, ("ignore",))
        return rules

    def matching(self, raw, intents, at=("matching",)):
        """The Rules of a mapping of language resources (a language file); absent means no synonyms or cues."""
        if raw is None:
            return Rules()
        if not isinstance(raw, dict):
            self.problem(at, f"must be a mapping with any of: {', '.join(MATCHING_FIELDS)}")
            return Rules()
        self.unknown_keys(raw, at, MATCHING_FIELDS)
        lists = {name: tuple(self.words(raw.get(name), at + (name,))) for name in MATCHING_LISTS}
        synonyms = self.synonyms(raw.get("synonyms"), at + ("synonyms",))
        return Rules(synonyms=synonyms, strict=self.strict(raw.get("strict"), at + ("strict",), intents), **lists)

    def words(self, raw, at):
        """A list of words or phrases (commands, Hinglish words, matching lists), each readable text."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(at, "must be a list of words or phrases")
            return []
        good = []
        for index, item in enumerate(raw):
            if isinstance(item, bool):
                self.problem(at + (index,), "YAML reads true/false as a yes/no value: put the word in quotes")
                continue
            if isinstance(item, (int, float)):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                self.problem(at + (index,), "each entry must be non-empty text")
                continue
            good.append(item)
        return good

    def synonyms(self, raw, at):
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(at, "must map each word to the list of words that mean the same")
            return {}
        synonyms, owner = {}, {}
        for word, variants in raw.items():
            variants = self.words(variants, at + (word,))
            for variant in [str(word), *variants]:
                key = _spelled(variant)
                if owner.setdefault(key, word) != word:
                    self.problem(at + (word,), f"'{variant}' reads as '{owner[key]}' too (spelling and endings are "
                                 "folded away); keep it under one word")
            synonyms[str(word)] = tuple(variants)
        return synonyms

    def ignored(self, words, synonyms, at):
        """Words to ignore must not also carry a meaning through the synonyms."""
        meaning = {_spelled(v): word for word, variants in synonyms.items() for v in [word, *variants]}
        ignored = {_spelled(word) for word in words}
        for index, word in enumerate(words):
            if len(word.split()) != 1:
                self.problem(at + (index,), f"'{word}': list single words here")
                continue
            # Ignoring a whole family ("to", "2", "too") is fine; ignoring one reading of a meaningful word is not.
            if _spelled(word) in meaning and _spelled(meaning[_spelled(word)]) not in ignored:
                self.problem(at + (index,), f"'{word}' is ignored but also read as '{meaning[_spelled(word)]}' "
                             "(see synonyms); remove it from one of them")

    def strict(self, raw, at, intents):
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(at, "must map intent ids to a score from 0 to 100")
            return {}
        bars = {}
        for intent, bar in raw.items():
            if intent not in intents:
                hint = difflib.get_close_matches(str(intent), list(intents), n=1)
                advice = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.problem(at + (intent,), f"intent '{intent}' does not exist{advice}")
            elif isinstance(bar, bool) or not isinstance(bar, (int, float)) or not 0 <= bar <= 100:
                self.problem(at + (intent,), "must be a score from 0 to 100")
                continue
            bars[intent] = float(bar)
        return bars


def _spelled(text):
    """A word or phrase as the matcher compares it: lower case, doubled letters and endings folded."""
    return " ".join(stem(word) for word in surface(fold(text)))


class KnowledgeFile:
    """The current Knowledge of a file, the red flags (safety.yaml) and the language files, reloaded when one
    changes; a broken edit of any keeps the last good version of all.

    With a `store`, the last good texts are also kept in Redis, so a process that starts while a file is
    broken (a new worker, a restart) serves that version instead of refusing to start. With `background`, an
    edit is loaded (its model trained) in a thread of its own: every request meanwhile gets the last version.
    """

    def __init__(self, path, check_every=2.0, handled=(), store=None, safety_path=SAFETY_PATH,
                 limits=red_flags.DEFAULT_LIMITS, background=False, language=LANGUAGE_DIR, max_bytes=MAX_FILE_BYTES):
        self.path, self.check_every, self.handled, self.store = path, check_every, tuple(handled), store
        self.safety_path, self.limits, self.background, self.language = safety_path, limits, background, language
        self.max_bytes = max_bytes
        # The last edit that was refused (a KnowledgeError), None while the file on disk is the one served.
        self.error = None
        # When the version served was read from the file (None: it came from Redis), and when an edit was refused.
        self.loaded_at = self.refused_at = None
        # What the texts served hash to: every process serving the same texts shows the same version.
        self.version = None
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        try:
            self._knowledge = self._load()
        except KnowledgeError as exc:
            if not self._follow_kept():
                raise  # nothing good to serve: a broken file at start-up with no kept version is fatal
            self._refused(exc)
        self._checked = time.monotonic()

    def current(self):
        """The knowledge to answer with; looks at the files at most every `check_every` seconds."""
        if time.monotonic() - self._checked >= self.check_every and self._lock.acquire(blocking=False):
            reloading = False
            try:
                self._checked = time.monotonic()
                stamp, work = self._file_stamp(), None
                if stamp != self._stamp:
                    self._stamp, work = stamp, self._reload
                elif self.error is not None and self.store:
                    # While the files here are refused, the last good version another process loaded is served,
                    # so every process converges on one version within seconds of the last edit, good or bad.
                    work = self._follow_kept
                if work and self.background:
                    threading.Thread(target=self._locked, args=(work,), name="knowledge-reload", daemon=True).start()
                    reloading = True
                elif work:
                    work()
            finally:
                if not reloading:
                    self._lock.release()
        return self._knowledge

    def _load(self):
        # Every file is read before any is built, so the version names exactly the texts served.
        text, safety_text = read_text(self.path, self.max_bytes), read_text(self.safety_path, self.max_bytes)
        language = {os.path.basename(p): t for p, t in language_texts(self.language, self.max_bytes).items()}
        knowledge = self._build(text, safety_text, language, "")
        self.loaded_at, self.version = time.time(), version_of(text, safety_text, language)
        if self.store:
            self.store.keep_knowledge(self.version, text, safety_text, language)
        return knowledge

    def _follow_kept(self):
        """Serve the last good texts kept in Redis when they are not the version served; True when there are some."""
        kept_version = self.store.kept_knowledge_version() if self.store else None
        if kept_version is None:
            return False
        kept = self.store.kept_knowledge() if kept_version != self.version else None
        if kept is not None:
            version, text, safety_text, language = kept
            self._knowledge = self._build(text, safety_text, language, " (last good version, kept in Redis)")
            self.loaded_at, self.version = None, version
            log.info("serving the last good version of the knowledge, kept in Redis", extra={"version": version})
        return True

    def _build(self, text, safety_text, language, where):
        """Knowledge from the texts of the files; `where` follows each file's name in what is refused."""
        folder = self.language or "language"
        return parse(text, f"{self.path}{where}", handled=self.handled,
                     safety=(safety_text, f"{self.safety_path}{where}", self.limits),
                     language={os.path.join(folder, name) + where: t for name, t in language.items()})

    def _locked(self, work):
        """Run `work` in a thread of its own, then give back the lock current() took."""
        try:
            work()
        except Exception:  # a bug must not leave the process without its knowledge: keep serving the last version
            log.exception("knowledge reload failed, still serving the last good version")
        finally:
            self._lock.release()

    def _reload(self):
        """Load the edited files; a refused edit keeps the version served, or takes the one kept for all processes."""
        try:
            self._knowledge = self._load()
            self.error = None
            log.info("knowledge reloaded from %s", self.path)
        except KnowledgeError as exc:
            self._refused(exc)
            self._follow_kept()

    def _refused(self, exc):
        self.error = exc
        self.refused_at = time.time()
        log.error("knowledge edit refused, still serving the last good version:\n%s", exc)

    def _file_stamp(self):
        return tuple(_stamp(path) for path in (self.path, self.safety_path)) + language_stamps(self.language)


def version_of(text, safety_text, language):
    """A short name of a version of the knowledge (`language`: the language files' texts by name): the same texts,
    the same name, in every process."""
    texts = [text, safety_text] + [f"{name}\0{language[name]}" for name in sorted(language)]
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]


def _stamp(path):
    """What changes when a file is edited or replaced; None when it cannot be read."""
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        return None
