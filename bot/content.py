"""The console's content editor: every intent's and message's wording edited in the browser, previewed against test
questions, published as a version of responses.yaml (or refused with the reasons), restored, and signed off by a
clinician.

Editing needs the ops role; signing off needs the clinician role; either opens the pages. An edit is the file's
text with the fields changed (bot/knowledge/editing.py), checked and written by bot/drafts.py.
"""

import difflib
import os
from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from bot import console, drafts, knowledge, ops, signoff, translations, wording
from bot.knowledge import editing

bp = Blueprint("content", __name__, url_prefix="/console/content", template_folder="templates")

MAX_QUESTIONS, MAX_QUESTION = 20, 300
MAX_SUMMARY = 200
# Phrases of the intent offered as test questions when its page opens.
FIRST_QUESTIONS = 3


def _assistant():
    return current_app.extensions["assistant"]


def is_clinician():
    """True when the logged-in account may sign off medical replies (as read by the console's guard for this request)."""
    account = console.account()
    return bool(account and account.get("clinician"))


@bp.app_context_processor
def content_context():
    """For every console page: whether the account may open the content editor (ops or clinician)."""
    return {"is_clinician": is_clinician()}


@bp.before_request
def guard():
    """A logged-in account with the ops or the clinician role; anyone else is told who can give access."""
    refused = console.guard()
    if refused is not None:
        return refused
    if not (ops.is_ops() or is_clinician()):
        return _forbidden()
    return None


def _forbidden():
    return render_template("content_forbidden.html"), 403


class _File:
    """The knowledge file as it is on disk now: its text, fingerprint, data, and the Hindi texts that are stale."""

    def __init__(self):
        knowledge_file = _assistant().knowledge_file
        self.path, self.name = knowledge_file.path, os.path.basename(knowledge_file.path)
        self.text, self.based_on = editing.current(self.path, _assistant().settings.knowledge_max_bytes)
        self.data = knowledge.read(self.text, self.path)[0]
        self.stale = translations.stale(_assistant().store, self.name, self.data)

    def section(self, name):
        """The file's map of intents or messages ({} when the file has none)."""
        found = self.data.get(name) if isinstance(self.data, dict) else None
        return found if isinstance(found, dict) else {}

    def intent(self, intent_id):
        body = self.section("intents").get(intent_id)
        return body if isinstance(body, dict) else None

    def message(self, name):
        return self.section("messages").get(name)


def _read():
    """The file on disk, or None with the reason flashed when it cannot be read (a refused edit: see the knowledge page)."""
    try:
        return _File()
    except (knowledge.KnowledgeError, OSError) as exc:
        flash(f"The knowledge file cannot be edited here while it is broken on disk: {exc}", "error")
        return None


@bp.get("/")
def index():
    """Every intent (its title, sign-off and Hindi state) and every message, each a link to its editor page."""
    found, settings = _read(), _assistant().settings
    if found is None:
        return render_template("content_list.html", intents=[], messages=[], broken=True)
    intents = [{"id": intent_id, "title": wording.intent_form(intent_id, body)["title_en"],
                "clinical": signoff.clinical(intent_id, settings), "reviewed_by": body.get("reviewed_by"),
                "reviewed_on": body.get("reviewed_on"), "stale": _stale_of(found, f"intents.{intent_id}.")}
               for intent_id, body in found.section("intents").items() if isinstance(body, dict)]
    messages = [{"name": name, "text": wording.message_form(raw)["text_en"], "stale": f"messages.{name}" in found.stale}
                for name, raw in found.section("messages").items()]
    return render_template("content_list.html", intents=intents, messages=messages, broken=False, name=found.name,
                           offer=settings.UNSIGNED_MEDICAL_REPLIES == "offer")


def _stale_of(found, prefix):
    """The fields (title, reply) of the texts under `prefix` whose Hindi is stale."""
    return sorted(text[len(prefix):] for text in found.stale if text.startswith(prefix))


@bp.get("/intents/<intent_id>")
def intent(intent_id):
    """An intent's editor page: its fields as the file has them, test questions from its phrases."""
    found = _read()
    body = found.intent(intent_id) if found else None
    if body is None:
        return _missing("intent", intent_id, found)
    form = wording.intent_form(intent_id, body)
    form["questions"] = "\n".join(str(p) for p in (body.get("phrases") or ())[:FIRST_QUESTIONS])
    return _intent_page(found, intent_id, body, form, found.based_on)


def _missing(kind, name, found):
    """Back to the list, saying why (a file that cannot be read has said so already)."""
    if found is not None:
        flash(f"There is no {kind} “{name}” in the knowledge file.", "error")
    return redirect(url_for("content.index"))


def _intent_page(found, intent_id, body, form, based_on, refusals=(), preview=None, changed=(), status=200):
    settings = _assistant().settings
    return render_template(
        "content_intent.html", intent_id=intent_id, body=body, form=form, based_on=based_on, refusals=refusals,
        preview=preview, changed=changed, stale=_stale_of(found, f"intents.{intent_id}."), name=found.name,
        clinical=signoff.clinical(intent_id, settings), can_edit=ops.is_ops(), can_sign=is_clinician(),
        moved=based_on != found.based_on, intent_ids=sorted(found.section("intents"))), status


@bp.post("/intents/<intent_id>")
def edit_intent(intent_id):
    """Preview or publish an edit of the intent; a refused one is shown with its reasons and the editor's text kept."""
    if not ops.is_ops():
        return _forbidden()
    found = _read()
    body = found.intent(intent_id) if found else None
    if body is None:
        return _missing("intent", intent_id, found)
    form, based_on = request.form.to_dict(), request.form.get("based_on", "")
    try:
        text, changed = wording.edit_intent(found.text, found.data, intent_id, form)
    except editing.EditError as exc:
        return _intent_page(found, intent_id, body, form, based_on, refusals=[str(exc)], status=409)
    refusals, preview = _try(found, text, changed, based_on, f"{intent_id}: ")
    if refusals is None:
        texts = {f"intents.{intent_id}.{field}": field for field in wording.FIELDS}
        return _published(found, texts, url_for("content.intent", intent_id=intent_id))
    return _intent_page(found, intent_id, body, form, based_on, refusals, preview, changed, 409 if refusals else 200)


def _try(found, text, changed, based_on, label):
    """Preview the edit (refusals, test answers), or publish it: (None, None) once published."""
    settings, assistant = _assistant().settings, _assistant()
    publishing = request.form.get("action") == "publish"
    if not changed and publishing:
        return ["Nothing is changed yet: edit a field, then preview or publish."], None
    draft = drafts.check(text, found.path, settings, assistant.knowledge_file.handled)
    refusals = [drafts.reason(finding) for finding in draft.refusals]
    preview = _preview(draft) if draft.knowledge else None
    if not publishing:
        return refusals, preview
    summary = " ".join(request.form.get("summary", "").split())[:MAX_SUMMARY]
    if not summary:
        return refusals + ["Write a line saying what you changed and why: it is kept with the version."], preview
    try:
        drafts.publish(assistant.knowledge_file, assistant.store, text, based_on, session["coordinator"],
                       f"{label}{summary}", settings)
    except drafts.PublishError as exc:
        return exc.reasons, preview
    return None, None


def _preview(draft):
    """(question, the draft's answer, the published answer) for each test question of the form."""
    settings, served = _assistant().settings, _assistant().knowledge_file.current()
    questions = [" ".join(q.split())[:MAX_QUESTION] for q in request.form.get("questions", "").splitlines() if q.strip()]
    return [(question, wording.answer(draft.knowledge, question, settings), wording.answer(served, question, settings))
            for question in questions[:MAX_QUESTIONS]]


def _published(found, texts, back):
    """After a publication: say so, and whether one of its `texts` ({name in translations: label}) now waits for its
    Hindi to be updated."""
    flash("Published. Every process answers with it within a few seconds.", "info")
    now = _File().stale
    stale = [label for text, label in texts.items() if text in now and text not in found.stale]
    if stale:
        flash("The English changed and the Hindi did not: the Hindi " + " and ".join(stale)
              + " is marked as needing an update until it is edited or confirmed.", "warning")
    return redirect(back)


@bp.post("/intents/<intent_id>/sign")
def sign_off(intent_id):
    """A clinician signs off the intent as published: reviewed_by and reviewed_on written through the same checks."""
    if not is_clinician():
        return _forbidden()
    found = _read()
    if not found or found.intent(intent_id) is None:
        return _missing("intent", intent_id, found)
    back = url_for("content.intent", intent_id=intent_id)
    by, assistant = session["coordinator"], _assistant()
    text = wording.sign(found.text, intent_id, by, signoff.today(assistant.settings))
    try:
        drafts.publish(assistant.knowledge_file, assistant.store, text, request.form.get("based_on", ""), by,
                       f"{intent_id}: signed off by {by}", assistant.settings)
    except drafts.PublishError as exc:
        flash("Not signed off: " + " ".join(exc.reasons), "error")
        return redirect(back)
    flash(f"Signed off by {by}. Patients get this reply as it is now.", "info")
    return redirect(back)


@bp.post("/hindi")
def confirm_hindi():
    """An editor confirms a Hindi text still says what the English says: it is no longer marked as stale."""
    if not ops.is_ops():
        return _forbidden()
    found, text = _read(), request.form.get("text", "")
    back = request.form.get("back", "")
    back = back if back.startswith("/console/content/") else url_for("content.index")
    if found is None:
        return redirect(back)
    if found.based_on != request.form.get("based_on"):
        flash(f"{found.name} changed since you opened the page: look at the texts again before confirming.", "error")
    elif translations.confirm(_assistant().store, found.name, found.data, text):
        flash("Confirmed: the Hindi text is up to date.", "info")
    return redirect(back)


@bp.get("/messages/<name>")
def message(name):
    """A message's editor page: its text per language."""
    found = _read()
    raw = found.message(name) if found else None
    if raw is None:
        return _missing("message", name, found)
    return _message_page(found, name, {**wording.message_form(raw), "questions": ""}, found.based_on)


def _message_page(found, name, form, based_on, refusals=(), preview=None, changed=(), status=200):
    return render_template(
        "content_message.html", message_name=name, form=form, based_on=based_on, refusals=refusals, preview=preview,
        changed=changed, stale=f"messages.{name}" in found.stale, name=found.name, can_edit=ops.is_ops(),
        moved=based_on != found.based_on), status


@bp.post("/messages/<name>")
def edit_message(name):
    """Preview or publish an edit of the message, as for an intent."""
    if not ops.is_ops():
        return _forbidden()
    found = _read()
    if not found or found.message(name) is None:
        return _missing("message", name, found)
    form, based_on = request.form.to_dict(), request.form.get("based_on", "")
    try:
        text, changed = wording.edit_message(found.text, found.data, name, form)
    except editing.EditError as exc:
        return _message_page(found, name, form, based_on, refusals=[str(exc)], status=409)
    refusals, preview = _try(found, text, changed, based_on, f"messages.{name}: ")
    if refusals is None:
        return _published(found, {f"messages.{name}": "text"}, url_for("content.message", name=name))
    return _message_page(found, name, form, based_on, refusals, preview, changed, 409 if refusals else 200)


@bp.get("/versions")
def versions():
    """The versions of the knowledge file published from the console: who, when, why."""
    found = _read()
    name = os.path.basename(_assistant().knowledge_file.path)
    current = found.based_on if found else None
    listed = [{**version, "time": _clock(version["at"])} for version in _assistant().store.versions(name)]
    return render_template("content_versions.html", versions=listed, name=name, current=current,
                           current_id=_current_id(name, current, listed))


def _current_id(name, fingerprint, listed):
    """The id of the newest version whose text is the file on disk now (None: edited outside the console since)."""
    for version in listed[:1]:
        text = _assistant().store.version_text(name, version["id"])
        if text is not None and editing.fingerprint(text) == fingerprint:
            return version["id"]
    return None


@bp.get("/versions/<version_id>")
def version(version_id):
    """One version: its text, and how it differs from the file on disk now."""
    name = os.path.basename(_assistant().knowledge_file.path)
    found = _read()
    listed = {v["id"]: v for v in _assistant().store.versions(name)}
    text = _assistant().store.version_text(name, version_id) if version_id in listed else None
    if text is None:
        flash("That version is not kept (any more).", "error")
        return redirect(url_for("content.versions"))
    now = found.text if found else ""
    diff = list(difflib.unified_diff(now.splitlines(), text.splitlines(), "on disk now", "this version", n=2, lineterm=""))
    return render_template("content_version.html", version={**listed[version_id], "time": _clock(listed[version_id]["at"])},
                           text=text, diff=diff, name=name, based_on=found.based_on if found else "", can_edit=ops.is_ops())


@bp.post("/versions/<version_id>/restore")
def restore(version_id):
    """Publish a version's text again, as a new version, through the same checks as any edit."""
    if not ops.is_ops():
        return _forbidden()
    assistant = _assistant()
    name = os.path.basename(assistant.knowledge_file.path)
    listed = {v["id"]: v for v in assistant.store.versions(name)}
    text = assistant.store.version_text(name, version_id) if version_id in listed else None
    if text is None:
        flash("That version is not kept (any more).", "error")
        return redirect(url_for("content.versions"))
    _read()  # records which texts agree before the restore (translations.stale), so that it is compared with them
    summary = f"restored the version of {_clock(listed[version_id]['at'])} ({listed[version_id]['by']})"
    try:
        drafts.publish(assistant.knowledge_file, assistant.store, text, request.form.get("based_on", ""),
                       session["coordinator"], summary, assistant.settings)
    except drafts.PublishError as exc:
        flash("Not restored: " + " ".join(exc.reasons), "error")
        return redirect(url_for("content.version", version_id=version_id))
    flash(f"Restored: {summary}. Every process answers with it within a few seconds.", "info")
    return redirect(url_for("content.versions"))


def _clock(at):
    return datetime.fromtimestamp(at, _assistant().handoff.hours.zone).strftime("%d %b %Y %H:%M")
