"""The language files (language/): how patients' words are read, read and checked into bot.matcher.Rules."""

import os

from bot.knowledge.files import MAX_FILE_BYTES, Fields, KnowledgeError, _stamp, did_you_mean, read, read_text
from bot.listening import Listening
from bot.matcher import Rules
from bot.spelling import fold, stem, surface

# The language files (language/): each field of bot.matcher.Rules, all optional, each in one of the files.
MATCHING_LISTS = ("ignore", "contrast", "set_aside_openers", "set_aside_closers", "out_of_scope", "anchors", "mentions",
                  "other_subjects", "comparing", "not_pointing")
# How a message leans on the conversation (bot.listening.Listening): asking for more, telling one's own case.
LISTENING_LISTS = ("more", "more_filler", "person", "details", "agree", "disagree")
MATCHING_FIELDS = {"synonyms": "word: the words that mean the same",
                   "strict": "intent: the lead (0-100) it needs over the runner-up",
                   "options": "option: the words that pick it",
                   **{name: "list of words or phrases" for name in MATCHING_LISTS + LISTENING_LISTS}}
LANGUAGE_FILES = ("synonyms.yaml", "reading.yaml", "out_of_scope.yaml", "conversation.yaml")


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


def language_rules(files, intents, problems):
    """The Rules of the language files, each (path, data, lines) read by `read`: each checked with its own lines."""
    fields, ignore_at = {}, None
    for path, data, lines in files:
        checker = _LanguageFile(path, lines, problems)
        found = checker.matching(data, intents, at=())
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


def language_listening(files, problems):
    """The Listening of the language files' conversation cues (each list in one file)."""
    lists = {}
    for path, data, lines in files:
        checker = _LanguageFile(path, lines, problems)
        for name in LISTENING_LISTS:
            if isinstance(data, dict) and data.get(name) is not None:
                lists[name] = checker.words(data[name], (name,))
        options = data.get("options") if isinstance(data, dict) else None
        if isinstance(options, dict):
            lists["options"] = {str(o): checker.words(phrases, ("options", o)) for o, phrases in options.items()}
        elif options is not None:
            checker.problem(("options",), "must map each option (self, morning, video, ...) to the words that pick it")
    return Listening.of(lists)


class _LanguageFile(Fields):
    """Reads one language file into Rules, collecting every problem instead of stopping at the first."""

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
                advice = did_you_mean(intent, intents)
                self.problem(at + (intent,), f"intent '{intent}' does not exist" + (f" ({advice})" if advice else ""))
            elif isinstance(bar, bool) or not isinstance(bar, (int, float)) or not 0 <= bar <= 100:
                self.problem(at + (intent,), "must be a score from 0 to 100")
                continue
            bars[intent] = float(bar)
        return bars


def _spelled(text):
    """A word or phrase as the matcher compares it: lower case, doubled letters and endings folded."""
    return " ".join(stem(word) for word in surface(fold(text)))
