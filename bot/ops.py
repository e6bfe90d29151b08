"""The console's pages for operations: unanswered questions, activity, and the state of responses.yaml.

They show what every patient wrote that the assistant could not answer, which is more than a
coordinator needs for their chats, so they need an account with the ops role.
"""

import os
from collections import Counter
from datetime import datetime

from flask import Blueprint, current_app, render_template, request

from bot import checks, console, knowledge, signoff, translations, unanswered
from intents import HANDLERS

bp = Blueprint("ops", __name__, url_prefix="/console/ops", template_folder="templates")

PERIODS = (7, 30, 90)
# The activity chart's drawing area, in SVG units (the page scales it to its width).
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM, CHART_LEFT = 720, 220, 16, 24, 24
TOP_INTENTS = 10


def _assistant():
    return current_app.extensions["assistant"]


def is_ops():
    """True when the logged-in account has the ops role (as read by the console's guard for this request)."""
    account = console.account()
    return bool(account and account["ops"])


@bp.app_context_processor
def ops_context():
    """For every console page: the ops links, and a banner while an edit of the knowledge file is refused."""
    if not is_ops():
        return {"is_ops": False, "knowledge_refused": None}
    knowledge_file = _assistant().knowledge_file
    knowledge_file.current()  # looks at the file, so the banner is as fresh as the answers
    return {"is_ops": True, "knowledge_refused": knowledge_file.error}


@bp.before_request
def guard():
    """A logged-in account with the ops role; anyone else is sent to log in or told who can give access."""
    refused = console.guard()
    if refused is not None:
        return refused
    if not is_ops():
        return render_template("ops_forbidden.html"), 403
    return None


@bp.get("/unanswered")
def unanswered_questions():
    """Questions the assistant could not answer, grouped, with the nearest intent and phrases to paste."""
    assistant = _assistant()
    knowledge = assistant.knowledge_file.current()
    entries = assistant.store.unanswered()
    found = unanswered.groups(entries, knowledge)
    return render_template("ops_unanswered.html", groups=found, total=len(entries), knowledge=knowledge,
                           suggest_from=unanswered.SUGGEST_FROM,
                           days=assistant.settings.RETENTION_DAYS, time=_clock)


@bp.get("/activity")
def activity():
    """Messages per day, top intents, fallback and handoff rates, over 7, 30 or 90 days."""
    days = request.args.get("days", type=int)
    days = days if days in PERIODS else 30
    rows = _assistant().store.activity(days)
    totals = {name: sum(row[name] for row in rows) for name in ("messages", "patients", "unanswered", "handoffs")}
    intents = sum((Counter(row["intents"]) for row in rows), Counter()).most_common(TOP_INTENTS)
    return render_template("ops_activity.html", rows=rows, totals=totals, days=days, periods=PERIODS,
                           fallback_rate=_share(totals["unanswered"], totals["messages"]),
                           handoff_rate=_share(totals["handoffs"], totals["patients"]),
                           chart=_day_chart(rows), intents=_intent_bars(intents))


@bp.get("/knowledge")
def knowledge_state():
    """What needs a clinician's sign-off and patient safety first; then the version being served, a refused edit if
    any, and the check of the file as it is on disk, its lesser warnings folded by kind."""
    knowledge_file, settings = _assistant().knowledge_file, _assistant().settings
    served = knowledge_file.current()
    report = _report(knowledge_file.path)
    ordered = report.ordered()
    return render_template("ops_knowledge.html", file=knowledge_file, report=report, time=_clock,
                           name=os.path.basename(knowledge_file.path),
                           signoffs=signoff.needing(report.knowledge or served, settings),
                           offer=settings.UNSIGNED_MEDICAL_REPLIES == "offer",
                           urgent=[f for f in ordered if f.severity == "error" or f.loud], groups=_groups(ordered, settings),
                           hindi=_stale_hindi(knowledge_file.path))


def _stale_hindi(path):
    """[(intent id or None, message name or None, field)] of the texts whose Hindi waits for an update (translations.py)."""
    try:
        data = knowledge.read(knowledge.read_text(path, _assistant().settings.knowledge_max_bytes), path)[0]
    except knowledge.KnowledgeError:
        return []
    found = []
    for text in sorted(translations.stale(_assistant().store, os.path.basename(path), data)):
        section, _, rest = text.partition(".")
        if section == "intents":
            intent_id, _, field = rest.rpartition(".")
            found.append((intent_id, None, field))
        else:
            found.append((None, rest, "text"))
    return found


# The lesser warnings of the knowledge page, folded by kind (the check that found them), in this order.
KINDS = {"closer_to_another_intent": "Phrases that sit closer to another intent",
         "without_hinglish": "Intents with no Hinglish phrase",
         "source": "Intents that do not say where their facts come from",
         "review": "Not reviewed by a clinician (not medical)"}
OTHER_KIND = "Other warnings"


def _groups(findings, settings):
    """[(title, warnings)] of the warnings that are not about patient safety, by kind; a medical intent's missing
    review is left out (it leads the page, to sign off)."""
    groups = {title: [] for title in (*KINDS.values(), OTHER_KIND)}
    for finding in findings:
        if finding.severity != "warning" or finding.loud:
            continue
        kind = finding.kind
        if kind == "review":
            intent_id, _, field = finding.problem.field.removeprefix("intents.").rpartition(".")
            if field == "source":
                kind = "source"
            elif signoff.medical(intent_id, settings):
                continue
        groups[KINDS.get(kind, OTHER_KIND)].append(finding)
    return [(title, found) for title, found in groups.items() if found]


def _report(path):
    """The check of the file, computed again only when it, its expectations or the red flags change (it takes seconds)."""
    settings = _assistant().settings
    stamps = tuple(_stamp(p) for p in (path, os.path.join(os.path.dirname(path), checks.EXPECTATIONS), settings.SAFETY_PATH))
    stamps += knowledge.language_stamps(settings.LANGUAGE_DIR)
    cached = current_app.extensions.get("ops_report")
    if cached and cached[0] == stamps:
        return cached[1]
    report = checks.run(path, settings, handled=HANDLERS)
    current_app.extensions["ops_report"] = (stamps, report)
    return report


def _stamp(path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


def _share(part, whole):
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _clock(at):
    return datetime.fromtimestamp(at, _assistant().handoff.hours.zone).strftime("%d %b %Y %H:%M:%S") if at else ""


def _day_chart(rows):
    """Bars of messages per day, the part not understood stacked on top, in SVG coordinates."""
    most = max([row["messages"] for row in rows] + [1])
    room = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    step = (CHART_WIDTH - CHART_LEFT) / len(rows)
    label_every = max(1, len(rows) // 10)
    bars = []
    for n, row in enumerate(rows):
        answered = row["messages"] - row["unanswered"]
        high, missed = room * answered / most, room * row["unanswered"] / most
        base = CHART_TOP + room
        bars.append({
            "x": round(CHART_LEFT + n * step + step * 0.15, 1), "width": round(step * 0.7, 1),
            "answered_y": round(base - high, 1), "answered_height": round(high, 1),
            "missed_y": round(base - high - missed, 1), "missed_height": round(missed, 1),
            "label": datetime.fromisoformat(row["day"]).strftime("%d %b") if n % label_every == 0 else "",
            "label_x": round(CHART_LEFT + n * step + step / 2, 1), "row": row,
        })
    return {"bars": bars, "most": most, "width": CHART_WIDTH, "height": CHART_HEIGHT, "top": CHART_TOP,
            "left": CHART_LEFT, "base": CHART_HEIGHT - CHART_BOTTOM}


def _intent_bars(intents):
    """(intent, count, bar width out of 100) for the top intents."""
    most = max([count for _, count in intents] + [1])
    return [(intent, count, round(100 * count / most, 1)) for intent, count in intents]
