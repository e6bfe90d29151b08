"""The content editor's forms: an intent's or a message's fields as the editor sees them, the file text an edit makes,
and what a version of the knowledge answers to a test question."""

import re

from bot import language, signoff
from bot.knowledge import editing
from bot.knowledge.responses import LANGUAGES
from bot.matcher import EMERGENCY
from bot.replies import Answer, Words, lay_out, numbered

# A line holding only this between two pages of a reply (a long answer goes one page at a time, MORE for the next).
PAGE_BREAK = "---"
FIELDS = ("title", "reply")


def languages(raw):
    """{lang: value} of a field written as one text (English) or one text per language."""
    if isinstance(raw, dict):
        return {lang: raw[lang] for lang in LANGUAGES if raw.get(lang) is not None}
    return {"en": raw} if raw is not None else {}


def shown(value):
    """A text or its pages as a textarea shows them: pages apart, on a line of their own, by PAGE_BREAK."""
    if value is None:
        return ""
    if isinstance(value, list):
        return f"\n{PAGE_BREAK}\n".join(str(page).strip() for page in value)
    return str(value).strip()


def pages(text):
    """The form's text of a reply: one text, or a list of pages where lines of PAGE_BREAK stand between them."""
    found, page = [], []
    for line in _lines(text).split("\n"):
        if line.strip() == PAGE_BREAK:
            found.append("\n".join(page))
            page = []
        else:
            page.append(line.rstrip())
    found = [part.strip() for part in found + ["\n".join(page)] if part.strip()]
    return found if len(found) > 1 else found[0] if found else ""


def one_text(text):
    """The form's text of a title or message: newlines as the file has them, blank lines around it left out."""
    return "\n".join(line.rstrip() for line in _lines(text).split("\n")).strip()


def items(text):
    """One item a line (a phrase, a follow-up): blanks dropped, spaces around each left out."""
    return [line.strip() for line in _lines(text).split("\n") if line.strip()]


def _lines(text):
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


def _same(before, after):
    """True when two values of a field say the same (a text and a list of that one page alike)."""
    def norm(value):
        return [str(page).strip() for page in (value if isinstance(value, list) else [value])] if value else []
    return norm(before) == norm(after)


def intent_form(intent_id, body):
    """The fields of an intent's editor page, as the file has them."""
    titles, replies = languages(body.get("title")), languages(body.get("reply"))
    form = {f"title_{lang}": shown(titles.get(lang)) for lang in LANGUAGES}
    form["title_en"] = form["title_en"] or default_title(intent_id)
    form.update({f"reply_{lang}": shown(replies.get(lang)) for lang in LANGUAGES})
    form.update(phrases="\n".join(str(p) for p in body.get("phrases") or ()),
                followups="\n".join(str(f) for f in body.get("followups") or ()), source=body.get("source") or "")
    return form


def message_form(raw):
    """The fields of a message's editor page, as the file has them."""
    texts = languages(raw)
    return {f"text_{lang}": shown(texts.get(lang)) for lang in LANGUAGES}


def default_title(intent_id):
    """The title an intent without one gets (as the loader makes it)."""
    return str(intent_id).replace("_", " ").capitalize()


def edit_intent(text, data, intent_id, form):
    """(the file's text with the intent's fields set from the form, names of the fields changed); an edit of its
    title or reply clears its sign-off in the same text, since a clinician signed other words."""
    body, at = data["intents"][intent_id], ("intents", intent_id)
    changed = []
    for field, read in (("title", one_text), ("reply", pages)):
        raw = body.get(field)
        if field == "title" and raw is None:
            raw = default_title(intent_id)  # the loader's title until the editor writes another
        after = {lang: read(form.get(f"{field}_{lang}", "")) for lang in LANGUAGES}
        text, languages_changed = _set_languages(text, at + (field,), body.get(field), raw, after)
        changed += [f"{field} ({lang})" for lang in languages_changed]
    phrases, before = items(form.get("phrases")), [str(p) for p in body.get("phrases") or ()]
    if phrases != before:
        if phrases[:len(before)] == before and isinstance(body.get("phrases"), list) and before:
            for phrase in phrases[len(before):]:  # added at the end: the phrases before keep their lines
                text = editing.append(text, at + ("phrases",), phrase)
        else:
            text = editing.change(text, at + ("phrases",), phrases)
        changed.append("phrases")
    followups = [item for line in items(form.get("followups")) for item in re.split(r"[\s,]+", line) if item]
    if followups != [str(f) for f in body.get("followups") or ()]:
        text = editing.change(text, at + ("followups",), followups)
        changed.append("follow-ups")
    source = one_text(form.get("source")) or None
    if source != (body.get("source") or None):
        text = editing.change(text, at + ("source",), source)
        changed.append("source")
    if any(name.startswith(FIELDS) for name in changed):
        for name in ("reviewed_by", "reviewed_on"):
            if body.get(name) is not None:
                text = editing.change(text, at + (name,), None)
    return text, changed


def edit_message(text, data, name, form):
    """(the file's text with the message set from the form, the languages changed)."""
    raw = data["messages"][name]
    after = {lang: one_text(form.get(f"text_{lang}", "")) for lang in LANGUAGES}
    return _set_languages(text, ("messages", name), raw, raw, after)


def _set_languages(text, at, raw, before, after):
    """The text with the field at `at` (written `raw`, reading `before`) set to `after` ({lang: value, "" for none}),
    only the languages that changed rewritten; and the languages changed."""
    before = languages(before)
    changed = [lang for lang in LANGUAGES if not _same(before.get(lang), after.get(lang))]
    if not changed:
        return text, changed
    kept = {lang: value for lang, value in after.items() if value or lang == "en"}
    if isinstance(raw, dict) and all(lang in kept for lang in raw if lang in LANGUAGES):
        for lang in changed:  # each language rewritten alone: the others keep their lines
            text = editing.change(text, at + (lang,), kept[lang])
        return text, changed
    # Written as one English text, or a language emptied: the field is written again, as one text when English alone.
    return editing.change(text, at, kept["en"] if list(kept) == ["en"] else kept), changed


def sign(text, intent_id, by, day):
    """The file's text with the intent signed off by `by` on `day`."""
    text = editing.change(text, ("intents", intent_id, "reviewed_by"), by)
    return editing.change(text, ("intents", intent_id, "reviewed_on"), day)


def answer(knowledge, question, settings):
    """What `knowledge` answers to a test question: {intent, title, text, held} ("held": the offer goes instead)."""
    state = {}
    language.choose(question, state, knowledge.hinglish_words)
    words = Words(knowledge, settings, state)
    match = knowledge.match(question)
    options = match.options(settings.CLARIFY_MARGIN)
    if options:
        return {"intent": " or ".join(options), "title": "asks which topic",
                "text": words.message("clarify", options=numbered("", words.choices(options))), "held": False}
    if match.intent is None:
        return {"intent": None, "title": "not understood", "text": words.message("fallback"), "held": False}
    intent = knowledge.intents[match.intent]
    replied = words.pages(match.intent)
    if match.intent == EMERGENCY:
        replied = [words.render(page, when_answered=words.message("emergency_in_hours")) for page in replied]
    sent = lay_out(Answer(match.intent, replied, intent.followups), words, state).as_text()
    return {"intent": match.intent, "title": knowledge.title(match.intent, words.lang), "text": sent,
            "held": signoff.held_back(intent, settings)}
