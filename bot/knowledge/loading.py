"""Load a knowledge file with the red flags and the language files: Knowledge for the assistant, an Engine for any file."""

import dataclasses

from bot import safety as red_flags
from bot.knowledge.files import LANGUAGE_DIR, MAX_FILE_BYTES, SAFETY_PATH, KnowledgeError, read, read_text
from bot.knowledge.language_files import language_rules, language_texts, read_language
from bot.knowledge.loaded import Engine, _matcher
from bot.knowledge.responses import REQUIRED_INTENTS, _Checker
from bot.matcher import EMERGENCY


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
    rules = language_rules(read_language(language_texts(language, max_bytes), problems), phrases, problems)
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


def parse(text, path="responses.yaml", required=REQUIRED_INTENTS, handled=(), safety=None, language=LANGUAGE_DIR):
    """Check YAML text and build Knowledge from it; `handled` lists the intents that have a handler in intents/.

    `safety` is (text, path, limits) of the red flags, by default the project's safety.yaml; `language` the folder
    of the language files, by default the project's (none when empty), or their texts by path.
    """
    data, lines, written_twice = read(text, path)
    return build(data, lines, path, required, handled, written_twice, safety, language=language)


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
    # So are the common Hinglish words, so that "ho chuke" (already done) is never corrected into "choke".
    known = [p for i in intents for p in i.phrases] + sorted(knowledge.hinglish_words if knowledge else ())
    calm = [p for i in intents if i.id != EMERGENCY for p in i.phrases]
    calm += list(knowledge.matcher.rules.out_of_scope) if knowledge else []
    alarming = [p for i in intents if i.id == EMERGENCY for p in i.phrases]
    flags, found = red_flags.build(text, safety_path, limits, known, calm, alarming)
    problems += found
    if problems:
        raise KnowledgeError(problems)
    return dataclasses.replace(knowledge, safety=flags)
