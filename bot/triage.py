"""Acting on unanswered questions from the console: add their wording to a topic, mark them out of scope, or dismiss them.

Adding and marking out of scope are edits of a file (responses.yaml, language/out_of_scope.yaml): each is
proposed first, with its effect (which test questions change answer) and the check of the edited files, and
published only when the editor confirms it; published versions are kept like every edit made in the console.
"""

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, session, url_for

from bot import checks, drafts, knowledge
from bot.knowledge import editing
from bot.ops import bp
from bot.unanswered import MAX_PHRASE

OUT_OF_SCOPE = "out_of_scope.yaml"
# The test questions an effect is measured on: the expectations, and the questions still kept (at most this many).
KEPT_ASKED = 300
ACTIONS = ("add", "out_of_scope")


@dataclass(frozen=True)
class Proposal:
    """An edit proposed from a group of questions: the file it changes, its text then and now, and what it does."""

    action: str
    intent: str | None
    phrases: tuple
    ids: tuple
    path: str
    based_on: str
    text: str
    refusals: tuple = ()
    changed: tuple = ()  # (question, answer now, answer after) for each test question whose answer changes


def _assistant():
    return current_app.extensions["assistant"]


def _settings():
    return _assistant().settings


def _out_of_scope_path():
    folder = _settings().LANGUAGE_DIR
    return os.path.join(folder, OUT_OF_SCOPE) if folder else None


def propose(action, intent, phrases, ids):
    """The Proposal of `action` for the wordings `phrases`; its refusals say why it cannot be published."""
    settings, knowledge_file = _settings(), _assistant().knowledge_file
    phrases = tuple(dict.fromkeys(" ".join(p.split())[:MAX_PHRASE] for p in phrases if p.strip()))
    if not phrases:
        return Proposal(action, intent, phrases, ids, "", "", "", ("Choose at least one wording.",))
    if action == "add":
        path = knowledge_file.path
        on_disk, based_on = editing.current(path, settings.knowledge_max_bytes)
        if intent not in knowledge_file.current().intents:
            return Proposal(action, intent, phrases, ids, path, based_on, on_disk, ("Choose the topic that answers these.",))
        text = on_disk
        for phrase in phrases:
            text = editing.append(text, ("intents", intent, "phrases"), phrase)
        draft = drafts.check(text, path, settings, knowledge_file.handled)
        refusals, built = tuple(drafts.reason(f) for f in draft.refusals), draft.knowledge
    else:
        path = _out_of_scope_path()
        if not path:
            return Proposal(action, None, phrases, ids, "", "", "", ("No language folder is set (LANGUAGE_DIR), so there is "
                                                                     "no out_of_scope.yaml to add examples to.",))
        on_disk, based_on = editing.current(path, settings.knowledge_max_bytes) if os.path.exists(path) else ("", "")
        text = on_disk or "out_of_scope:\n"
        for phrase in phrases:
            try:
                text = editing.append(text, ("out_of_scope",), phrase)
            except editing.EditError:  # no list yet: the first example makes one
                text = editing.change(text, ("out_of_scope",), [phrase])
        report = _check_language(text, path)
        refusals = tuple(drafts.reason(f) for f in report.ordered() if f.severity == "error")
        built = report.knowledge
    changed = _changes(knowledge_file.current(), built, phrases) if built and not refusals else ()
    return Proposal(action, intent, phrases, ids, path, based_on, text, refusals, changed)


def _check_language(text, path):
    """The check of the knowledge with the language file at `path` replaced by `text` (in a copy of its folder)."""
    settings = _settings()
    folder = tempfile.mkdtemp(prefix="draft-language-")
    try:
        for name in os.listdir(os.path.dirname(path)):
            if name.endswith(".yaml"):
                shutil.copy(os.path.join(os.path.dirname(path), name), folder)
        Path(folder, os.path.basename(path)).write_text(text, encoding="utf-8")
        copy = dataclasses.replace(settings, LANGUAGE_DIR=folder)
        knowledge_path = _assistant().knowledge_file.path
        expected = Path(knowledge_path).with_name(checks.EXPECTATIONS)
        report = checks.run(knowledge_path, copy, expectations=expected if expected.exists() else None,
                            handled=_assistant().knowledge_file.handled, only=(checks.red_flags, checks.expectations))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # Named as the file the editor knows, not the copy that was checked.
    report.findings = [dataclasses.replace(f, problem=dataclasses.replace(f.problem, path=path))
                       if f.problem.path.startswith(folder) else f for f in report.findings]
    return report


def _changes(now, after, phrases):
    """(question, answer now, answer after) for the test questions whose answer the edit changes."""
    asked = [entry["text"] for entry in _assistant().store.unanswered()[:KEPT_ASKED]]
    questions = dict.fromkeys(_expected_questions(now.path) + asked)
    for phrase in phrases:
        questions.pop(phrase, None)  # the wordings themselves change answer: that is the point
    found = []
    for question in questions:
        before, later = now.match(question).intent, after.match(question).intent
        if before != later:
            found.append((question, _answer(now, before), _answer(after, later)))
    return tuple(found)


def _expected_questions(path):
    """The phrases of expectations.yaml beside the knowledge file (none when it has none)."""
    expected = Path(path).with_name(checks.EXPECTATIONS)
    try:
        data = knowledge.read(knowledge.read_text(str(expected)), str(expected))[0] if expected.exists() else None
    except knowledge.KnowledgeError:
        return []
    return [str(p) for phrases in (data or {}).values() if isinstance(phrases, list) for p in phrases]


def _answer(known, intent):
    """An answer in an editor's words: the topic's title and id, or the fallback."""
    if intent is None:
        return "not understood (fallback)"
    found = known.intents.get(intent)
    return f"{found.title} ({intent})" if found else intent


def _form():
    """(action, intent, wordings, question ids) of the submitted form."""
    return (request.form.get("action", ""), request.form.get("intent") or None, request.form.getlist("phrase"),
            tuple(request.form.getlist("id")))


@bp.post("/unanswered/propose")
def propose_action():
    """Show what adding the wordings to a topic (or marking them out of scope) would change, before publishing."""
    action, intent, phrases, ids = _form()
    if action not in ACTIONS:
        flash("Choose what to do with these questions.", "error")
        return redirect(url_for("ops.unanswered_questions"))
    proposal = propose(action, intent, phrases, ids)
    return render_template("ops_proposal.html", proposal=proposal, knowledge=_assistant().knowledge_file.current(),
                           name=os.path.basename(proposal.path) if proposal.path else "")


@bp.post("/unanswered/publish")
def publish_action():
    """Publish a proposal the editor saw; the questions it answers leave the list."""
    action, intent, phrases, ids = _form()
    if action not in ACTIONS:
        return redirect(url_for("ops.unanswered_questions"))
    proposal = propose(action, intent, phrases, ids)
    if proposal.refusals:
        flash("Nothing was published: " + " ".join(proposal.refusals), "error")
        return redirect(url_for("ops.unanswered_questions"))
    if proposal.based_on != request.form.get("based_on", ""):
        flash(f"{os.path.basename(proposal.path)} changed since you looked at the effect: nothing was published. "
              "Look at the effect again.", "error")
        return redirect(url_for("ops.unanswered_questions"))
    try:
        _publish(proposal)
    except drafts.PublishError as exc:
        flash("Nothing was published: " + " ".join(exc.reasons), "error")
        return redirect(url_for("ops.unanswered_questions"))
    _assistant().store.drop_unanswered(proposal.ids)
    count = f"{len(proposal.phrases)} wording{'s' * (len(proposal.phrases) != 1)}"
    if action == "add":
        title = _assistant().knowledge_file.current().intents[intent].title
        flash(f"Added {count} to “{title}”: within seconds, patients who ask like this get its answer.", "info")
    else:
        flash(f"Added {count} to the out-of-scope examples: patients who ask like this get the “not understood” "
              "reply with the way to a person.", "info")
    return redirect(url_for("ops.unanswered_questions"))


def _publish(proposal):
    """Write the proposal's file and keep the version (responses.yaml through drafts.publish, with all its checks)."""
    summary = (f"added {len(proposal.phrases)} phrase(s) to {proposal.intent} from Unanswered" if proposal.action == "add"
               else f"added {len(proposal.phrases)} out-of-scope example(s) from Unanswered")
    store, by = _assistant().store, session["coordinator"]
    if proposal.action == "add":
        drafts.publish(_assistant().knowledge_file, store, proposal.text, proposal.based_on, by, summary, _settings())
        return
    token = store.start_publishing()
    if token is None:
        raise drafts.PublishError(["Another edit is being published right now. Try again in a minute."])
    try:
        name = f"language/{OUT_OF_SCOPE}"
        if not store.versions(name) and proposal.based_on:
            store.keep_version(name, editing.current(proposal.path, _settings().knowledge_max_bytes)[0],
                               "(the file as it was)", "before the first edit in the console")
        editing.write(proposal.path, proposal.text)
        store.keep_version(name, proposal.text, by, summary)
    finally:
        store.end_publishing(token)


@bp.post("/unanswered/dismiss")
def dismiss():
    """Take questions off the list without changing what the assistant knows (small talk, a one-off, a test)."""
    ids = tuple(request.form.getlist("id"))
    _assistant().store.drop_unanswered(ids)
    flash(f"Dismissed {len(ids)} question{'s' * (len(ids) != 1)}: they leave the list, nothing else changes.", "info")
    return redirect(url_for("ops.unanswered_questions"))
