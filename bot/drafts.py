"""Drafts of the knowledge file made in the console: checked as `python -m bot check` checks, asked test
questions, then published (written to the file, kept as a version) or refused with the reasons."""

import dataclasses
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from bot import checks
from bot.knowledge import KnowledgeError, editing

# Drafts built lately, by their text's fingerprint: previewing then publishing one builds it once.
_BUILT_KEPT = 4
_built = {}
_building = threading.Lock()


class PublishError(Exception):
    """A draft that was not published: the reasons, in an editor's words."""

    def __init__(self, reasons):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Draft:
    """A text of the knowledge file, its check, and the knowledge it builds (None when it does not load)."""

    text: str
    report: checks.Report
    refusals: tuple

    @property
    def knowledge(self):
        return self.report.knowledge

    def answer(self, question):
        """The intent a test question reaches in this draft (None: the fallback)."""
        return self.knowledge.match(question).intent if self.knowledge else None


def check(text, path, settings, handled=()):
    """The Draft of `text` as the file at `path`: refused for every error and every patient-safety warning about the
    file (an emergency phrase the red flags miss) that the file as it is on disk does not have. (An expectation
    that a change of the language files broke is for developers to mend: it does not block every edit meanwhile.)"""
    report = _checked(text, path, settings, handled)
    try:
        published = editing.current(path, settings.knowledge_max_bytes)[0]
    except KnowledgeError:  # no file to compare with: every such warning is new
        published = None
    before = report if published == text else _checked(published, path, settings, handled) if published else None
    blocking = [finding for finding in report.ordered()
                if finding.severity == "error" or (finding.loud and finding.problem.path == str(path))]
    known = {_gist(finding) for finding in before.findings} if before and before.knowledge else set()
    refusals = tuple(finding for finding in blocking if _gist(finding) not in known)
    return Draft(text, report, refusals)


def _gist(finding):
    """A finding without its numbers: an expectation failing before the edit still fails after it at another score."""
    return finding.problem.path, finding.problem.field, re.sub(r"\d+", "#", finding.problem.message)


def _checked(text, path, settings, handled):
    """The check of `text` as the file at `path` (a copy checked in a folder of its own), kept for a few drafts."""
    key = (editing.fingerprint(text), str(path))
    with _building:
        if key in _built:
            return _built[key]
    folder = tempfile.mkdtemp(prefix="draft-")
    try:
        draft_path = Path(folder) / Path(path).name
        draft_path.write_text(text, encoding="utf-8")
        expected = Path(path).with_name(checks.EXPECTATIONS)
        report = checks.run(draft_path, settings, expectations=expected if expected.exists() else None, handled=handled,
                            only=(checks.red_flags, checks.expectations))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # Named as the file the editor knows, not the copy that was checked.
    report.findings = [dataclasses.replace(finding, problem=dataclasses.replace(finding.problem, path=str(path)))
                       if finding.problem.path == str(draft_path) else finding for finding in report.findings]
    report.path = str(path)
    with _building:
        _built[key] = report
        while len(_built) > _BUILT_KEPT:
            _built.pop(next(iter(_built)))
    return report


def reason(finding):
    """One refusal in an editor's words: the field and what is wrong, with the line of the file."""
    problem = finding.problem
    name = os.path.basename(problem.path) if problem.path else ""
    line = f"{name} line {problem.line}".strip() if problem.line else name
    where = ", ".join(part for part in (line, problem.field) if part)
    return f"{where}: {problem.message}" if where else problem.message


def publish(knowledge_file, store, text, based_on, by, summary, settings):
    """Write `text` as the knowledge file and keep it as a version; PublishError when the file changed since the
    edit began (`based_on`, its fingerprint then), another publication is under way, or the draft is refused."""
    path, name = knowledge_file.path, os.path.basename(knowledge_file.path)
    token = store.start_publishing()
    if token is None:
        raise PublishError(["Another edit is being published right now. Try again in a minute."])
    try:
        on_disk, found = editing.current(path, settings.knowledge_max_bytes)
        if found != based_on:
            raise PublishError([f"{name} was changed by someone else since you opened it: nothing was published. "
                                "Open it again to see their change, then make yours."])
        draft = check(text, path, settings, knowledge_file.handled)
        if draft.refusals:
            raise PublishError([reason(finding) for finding in draft.refusals])
        if not store.versions(name):
            store.keep_version(name, on_disk, "(the file as it was)", "before the first edit in the console")
        editing.write(path, text)
        version = store.keep_version(name, text, by, summary)
    finally:
        store.end_publishing(token)
    knowledge_file.current()  # this process serves the new version as soon as its check interval allows
    return version
