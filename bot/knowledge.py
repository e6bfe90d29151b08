"""Load and check responses.yaml into an immutable Knowledge; reload it when the file changes."""

import difflib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from types import MappingProxyType

import yaml

from bot.matcher import Matcher

log = logging.getLogger(__name__)

REQUIRED_INTENTS = (
    "greeting", "about_therapy", "how_it_works", "benefits", "cancer_types", "side_effects",
    "manage_side_effects", "comparison", "administration", "duration", "what_to_expect", "research",
    "eligibility", "nutrition", "lifestyle", "costs", "insurance", "financial_assistance",
    "support_groups", "human_handoff", "emergency", "thanks_goodbye", "opt_out",
)
REQUIRED_MESSAGES = ("fallback", "clarify", "menu_header", "media", "too_long", "empty", "unavailable", "rate_limited")
TOP_FIELDS = {"menu": "list of intent ids", "messages": "wording not tied to an intent", "intents": "the topics"}
INTENT_FIELDS = {
    "title": "short name for menus",
    "phrases": "example messages",
    "reply": "what the assistant answers",
    "followups": "related intent ids offered after the reply",
    "source": "where the facts come from",
    "reviewed_by": "clinical reviewer",
    "reviewed_on": "date of review",
}
MAX_REPLY = 1000
MAX_TITLE = 20
# Placeholders the app fills in; any other {word} in a reply is a typo an editor should hear about.
PLACEHOLDERS = {"menu", "options", "emergency_numbers"}


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
    """One topic: its example phrases and its reply."""

    id: str
    title: str
    phrases: tuple
    reply: str
    followups: tuple = ()


@dataclass(frozen=True)
class Knowledge:
    """Everything the assistant knows and says, as loaded from one version of the file."""

    path: str
    intents: MappingProxyType
    menu: tuple
    messages: MappingProxyType
    matcher: Matcher

    def message(self, name):
        return self.messages[name]


def load(path, required=REQUIRED_INTENTS):
    """Read and check the knowledge file; raise KnowledgeError naming file, line and field."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError([Problem(path, 0, "", f"cannot read the file ({exc})")]) from None
    return parse(text, path, required)


def parse(text, path="responses.yaml", required=REQUIRED_INTENTS):
    """Check YAML text and build Knowledge from it."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise KnowledgeError([Problem(path, line, "", f"YAML syntax error: {reason}")]) from None
    lines, problems = {}, []
    if root is not None:
        _walk(root, (), lines, problems, path)
    checker = _Checker(path, lines, problems)
    knowledge = checker.build(data, required)
    if problems:
        raise KnowledgeError(problems)
    return knowledge


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


class _Checker:
    """Builds Knowledge from parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self, path, lines, problems):
        self.path, self.lines, self.problems = path, lines, problems

    def problem(self, at, message):
        line = next((self.lines[at[:n]] for n in range(len(at), -1, -1) if at[:n] in self.lines), 0)
        self.problems.append(Problem(self.path, line, _dotted(at), message))

    def build(self, data, required):
        if not isinstance(data, dict):
            self.problem((), "the file must be a mapping with menu, messages and intents")
            return None
        self.unknown_keys(data, (), TOP_FIELDS)
        intents = self.intents(data.get("intents"), required)
        messages = self.messages(data.get("messages"))
        menu = self.references(data.get("menu"), ("menu",), intents)
        if self.problems:
            return None
        return Knowledge(
            path=self.path,
            intents=MappingProxyType(intents),
            menu=tuple(menu),
            messages=MappingProxyType(messages),
            matcher=Matcher({i.id: i.phrases for i in intents.values()}),
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
            reply = self.text(body.get("reply"), at + ("reply",))
            title = body.get("title") or str(intent_id).replace("_", " ").capitalize()
            if not isinstance(title, str) or len(title) > MAX_TITLE:
                self.problem(at + ("title",), f"must be text of at most {MAX_TITLE} characters (WhatsApp button limit)")
            intents[intent_id] = Intent(intent_id, str(title), phrases, reply, tuple(body.get("followups") or ()))
        for intent in intents.values():
            self.references(list(intent.followups), ("intents", intent.id, "followups"), intents)
        return intents

    def phrases(self, raw, at):
        if not isinstance(raw, list) or not raw:
            self.problem(at, "needs at least one example phrase")
            return ()
        good = []
        for index, phrase in enumerate(raw):
            if isinstance(phrase, (int, float)) and not isinstance(phrase, bool):
                phrase = str(phrase)  # "112" or "1" are fine phrases; YAML reads them as numbers
            if not isinstance(phrase, str) or not phrase.strip():
                self.problem(at + (index,), "each phrase must be non-empty text")
                continue
            good.append(phrase)
        return tuple(good)

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
        return {name: self.text(value, ("messages", name)) for name, value in raw.items()}

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


class KnowledgeFile:
    """The current Knowledge of a file, reloaded when the file changes; a broken edit keeps the last good one."""

    def __init__(self, path, check_every=2.0):
        self.path = path
        self.check_every = check_every
        self.error = None
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._knowledge = load(path)  # a broken file at start-up is fatal: there is nothing to serve
        self._checked = time.monotonic()

    def current(self):
        """The knowledge to answer with; looks at the file at most every `check_every` seconds."""
        if time.monotonic() - self._checked >= self.check_every and self._lock.acquire(blocking=False):
            try:
                self._checked = time.monotonic()
                stamp = self._file_stamp()
                if stamp != self._stamp:
                    self._stamp = stamp
                    self._reload()
            finally:
                self._lock.release()
        return self._knowledge

    def _reload(self):
        try:
            self._knowledge = load(self.path)
            self.error = None
            log.info("knowledge reloaded", extra={"path": self.path})
        except KnowledgeError as exc:
            self.error = exc
            log.error("knowledge edit refused, still serving the last good version:\n%s", exc)

    def _file_stamp(self):
        try:
            st = os.stat(self.path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None
