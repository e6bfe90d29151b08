"""Read a knowledge, red-flag or language file safely, and name each problem at its field and line."""

import difflib
import os
import re
from dataclasses import dataclass

import yaml

# The project's root: this file is bot/knowledge/files.py.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The red flags that open the emergency path: safety.yaml, owned by the clinic, beside this project's code.
SAFETY_PATH = os.path.join(_ROOT, "safety.yaml")
# How patients' words are read (synonyms, cues, out-of-scope examples): developers' files, in language/.
LANGUAGE_DIR = os.path.join(_ROOT, "language")


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


def did_you_mean(word, known):
    """The advice "did you mean 'x'?" for the one of `known` nearest `word`, or "" when none is near."""
    near = difflib.get_close_matches(str(word), list(known), n=1)
    return f"did you mean '{near[0]}'?" if near else ""


class Fields:
    """The fields of one parsed file, checked one by one: every problem is collected, each at its line."""

    def __init__(self, path, lines, problems):
        self.path, self.lines, self.problems = path, lines, problems

    def problem(self, at, message):
        self.problems.append(locate(self.path, self.lines, at, message))

    def unknown_keys(self, mapping, at, known):
        for key in mapping:
            if key not in known:
                advice = did_you_mean(key, known) or f"known fields: {', '.join(known)}"
                self.problem(at + (key,), f"unknown field '{key}'; {advice}")

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


def _stamp(path):
    """What changes when a file is edited or replaced; None when it cannot be read."""
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        return None
