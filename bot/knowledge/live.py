"""The knowledge being served: reloaded when a file changes, the last good version kept while an edit is refused."""

import hashlib
import logging
import os
import threading
import time

from bot import safety as red_flags
from bot.knowledge.files import LANGUAGE_DIR, MAX_FILE_BYTES, SAFETY_PATH, KnowledgeError, _stamp, read_text
from bot.knowledge.language_files import language_stamps, language_texts
from bot.knowledge.loading import parse

# The logger's name from before bot.knowledge was a package: log lines and their filters keep it.
log = logging.getLogger("bot.knowledge")


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
