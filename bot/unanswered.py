"""What patients ask that the assistant cannot answer yet: kept questions grouped by similarity, for operations."""

from dataclasses import dataclass, field

import yaml
from rapidfuzz import fuzz, process

from bot import knowledge
from bot.spelling import normalise

# Two questions this alike (0-100, word order ignored) are one group.
SIMILAR = 75
EXAMPLES = 5
# The nearest intent is offered as the topic to add a group to only from this score (0-100): below it nothing
# really comes near (the weather, cricket), and the group is more likely out of scope than a topic's.
SUGGEST_FROM = 40
# A phrase proposed for responses.yaml is a question as patients write it, not a whole story.
MAX_PHRASE = 120


@dataclass
class Group:
    """Similar questions: how many, the distinct wordings (most recent first), and where they come closest."""

    texts: list = field(default_factory=list)
    count: int = 0
    last_at: float = 0.0
    nearest: str | None = None
    score: float = 0.0
    # The intent that answers these questions now (after an edit), or None while they still get the fallback.
    answered_now: str | None = None
    # YAML lines to paste into the knowledge file under the nearest intent's phrases ("" when there is nothing new).
    snippet: str = ""
    # The examples no intent has as a phrase yet: what adding the group to a topic would add.
    wordings: list = field(default_factory=list)
    # The kept questions' ids, so that the console can take the whole group off the list.
    ids: list = field(default_factory=list)
    keys: set = field(default_factory=set, repr=False)

    @property
    def examples(self):
        return self.texts[:EXAMPLES]


def groups(entries, current):
    """Group kept questions {at, text, ...} (newest first) by similarity, against the `current` Knowledge; largest first."""
    found, leaders = [], []
    for entry in entries:
        text = " ".join(entry["text"].split())[:MAX_PHRASE].lower()
        key = normalise(text)
        if not key:
            continue
        # Each group is led by its most recent question; a question joins the group it is closest to.
        index = _closest(key, leaders)
        if index is None:
            leaders.append(key)
            found.append(Group(last_at=entry["at"]))
        group = found[-1 if index is None else index]
        group.count += 1
        if entry.get("id"):
            group.ids.append(entry["id"])
        if key not in group.keys:
            group.keys.add(key)
            group.texts.append(text)
    known = {normalise(p) for intent in current.intents.values() for p in intent.phrases}
    ends = _phrase_ends(current.path)
    for group, leader in zip(found, leaders):
        match = current.matcher.match(leader)
        group.nearest, group.score, group.answered_now = match.candidate, match.score, match.intent
        group.wordings = [text for text in group.examples if normalise(text) not in known]
        group.snippet = _snippet(group, ends.get(group.nearest))
    return sorted(found, key=lambda g: (-g.count, -g.last_at))


def _snippet(group, end):
    """The group's new wordings as YAML list lines, indented like the nearest intent's phrases, with where to paste."""
    phrases = group.wordings
    if not phrases:
        return ""
    line, indent = end or (None, 6)
    if not group.nearest:
        where = "# paste under the phrases of the intent that answers these (or of a new one):"
    elif line:
        where = f"# if {group.nearest} answers these, paste after line {line} (its last phrase):"
    else:
        where = f"# if {group.nearest} answers these, paste at the end of intents > {group.nearest} > phrases:"
    lines = yaml.safe_dump(phrases, allow_unicode=True, default_flow_style=False, width=1000).splitlines()
    return where + "\n" + "".join(" " * indent + item + "\n" for item in lines)


def _phrase_ends(path):
    """{intent: (line of its last phrase, indent of the "- ")}, read from the file; {} when it cannot be read."""
    try:
        text = knowledge.read_text(path)
        data, lines, _ = knowledge.read(text, path)
    except knowledge.KnowledgeError:
        return {}
    rows, ends = text.splitlines(), {}
    for intent_id, body in (data.get("intents") or {}).items() if isinstance(data, dict) else ():
        phrases = body.get("phrases") if isinstance(body, dict) else None
        line = lines.get(("intents", intent_id, "phrases", len(phrases) - 1)) if isinstance(phrases, list) and phrases else None
        # Only a block list ("- phrase" lines) can take more lines pasted under it.
        if line and rows[line - 1].lstrip().startswith("- "):
            ends[intent_id] = (line, len(rows[line - 1]) - len(rows[line - 1].lstrip()))
    return ends


def _closest(key, leaders):
    """The index of the leader most like `key`, or None when none is alike.

    Shared words (token set) find the candidates; word order and length (token sort) then weigh in, so
    "hospital address" and "what is the hospital address" group, but a one-word "hospital" does not
    swallow every question that mentions a hospital.
    """
    best, best_score = None, SIMILAR
    for _, shared, index in process.extract(key, leaders, scorer=fuzz.token_set_ratio, score_cutoff=SIMILAR, limit=5):
        score = (shared + fuzz.token_sort_ratio(key, leaders[index])) / 2
        if score >= best_score:
            best, best_score = index, score
    return best
