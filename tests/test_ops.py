"""The console's operations pages over HTTP: who may see them, the activity counts, the knowledge file's state."""

import re
from datetime import timedelta, timezone

import pytest

from bot import signoff
from bot.console import hash_password
from bot.store import Store
from tests.conftest import WhatsApp, editable_knowledge, wait_for
from tests.test_console import PASSWORD, log_in
from tests.test_reload import HOSTILE, make_hostile

OTHER = "whatsapp:+919811122233"


@pytest.fixture
def test_config(test_config, tmp_path):
    """The app on a copy of the fixture knowledge, which a test may edit while it runs."""
    return {**test_config, "KNOWLEDGE_PATH": editable_knowledge(tmp_path)}


@pytest.fixture
def accounts(store):
    store.add_coordinator("Olga Ops", hash_password(PASSWORD), ops=True)
    store.add_coordinator("Priya Sharma", hash_password(PASSWORD))


@pytest.fixture
def ops(app, accounts):
    return log_in(app, name="Olga Ops")[0]


PAGES = ("/console/ops/unanswered", "/console/ops/activity", "/console/ops/knowledge")


@pytest.mark.parametrize("page", PAGES)
def test_ops_pages_need_the_ops_role(app, accounts, page):
    assert app.test_client().get(page).headers["Location"].endswith("/console/login")
    coordinator = log_in(app, name="Priya Sharma")[0]
    refused = coordinator.get(page)
    assert refused.status_code == 403
    assert 'python -m bot coordinator add "Priya Sharma" --ops' in refused.get_data(as_text=True)
    assert "/console/ops/" not in coordinator.get("/console/").get_data(as_text=True)  # no links either
    assert log_in(app, name="Olga Ops")[0].get(page).status_code == 200


def test_a_role_taken_away_counts_at_once(app, store, ops):
    assert ops.get("/console/ops/activity").status_code == 200
    account = store.coordinator("Olga Ops")
    store.add_coordinator("Olga Ops", account["password"], ops=False)
    # Every session of the account ends; logged in again, it has no operations pages.
    for page in ("/console/ops/activity", "/console/"):
        response = ops.get(page)
        assert response.status_code == 302 and response.location.endswith("/console/login")
    assert log_in(app, name="Olga Ops")[0].get("/console/ops/activity").status_code == 403
    # Setting a new password without saying keeps the role as it is.
    store.add_coordinator("Olga Ops", hash_password("another long password"))
    assert store.coordinator("Olga Ops")["ops"] is False


def test_activity_counts_messages_patients_misses_handoffs_and_intents(app, whatsapp, store, ops):
    whatsapp.send("how much does it cost")
    whatsapp.send("is parking available at the hospital")
    WhatsApp(app.test_client(), sender=OTHER).send("agent")
    [today] = store.activity(1)
    assert {k: today[k] for k in ("messages", "patients", "unanswered", "handoffs", "intents")} == {
        "messages": 3, "patients": 2, "unanswered": 1, "handoffs": 1, "intents": {"costs": 1, "human_handoff": 1}}
    page = ops.get("/console/ops/activity?days=7").get_data(as_text=True)
    assert 'id="total-messages">3<' in page and 'id="total-patients">2<' in page
    assert 'id="fallback-rate">33.3%<' in page and 'id="handoff-rate">50.0%<' in page
    assert re.search(r"<th scope=\"row\">costs</th>.*?<td class=\"num\">1</td>", page, re.S)
    assert page.count('<rect class="bar answered"') == 7  # one bar a day
    assert f"<title>{today['day']}: 3 messages, 1 not understood, 1 handed to a coordinator</title>" in page


def test_each_day_is_counted_on_its_own(store):
    # Two clinics' clocks a day apart (UTC-10 and UTC+14): the first one's today is the second one's yesterday.
    behind, ahead = (Store(store.redis, store.prefix, zone=timezone(timedelta(hours=hours))) for hours in (-10, 14))
    for clinic, sender, intent in ((behind, "whatsapp:+911", "costs"), (ahead, "whatsapp:+911", "costs"), (ahead, "whatsapp:+912", None)):
        with clinic.lock(sender) as lock:
            lock.conversation.count_message(intent)
    yesterday, today = ahead.activity(2)
    assert (yesterday["messages"], yesterday["patients"], today["messages"], today["patients"]) == (1, 1, 2, 2)


def test_the_unanswered_page_lists_groups_with_their_snippet(app, whatsapp, ops):
    whatsapp.send("<b>is parking</b> available at the hospital")
    whatsapp.send("is parking available at the hospital?")
    page = ops.get("/console/ops/unanswered").get_data(as_text=True)
    assert 'id="unanswered-total">2<' in page
    assert "&lt;b&gt;is parking&lt;/b&gt; available at the hospital" in page and "<b>is parking" not in page
    assert '<pre class="snippet">' in page


def test_a_refused_edit_is_shown_to_operations_until_it_is_fixed(app, ops, accounts):
    path = app.config["SETTINGS"].KNOWLEDGE_PATH
    good = open(path, encoding="utf-8").read()
    page = ops.get("/console/ops/knowledge").get_data(as_text=True)
    assert 'id="serving"' in page and "0 errors" in page and "4 of 4 expectations hold" in page
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(good.replace("    reply: Costs vary.", "    replys: Costs vary."))
    banner = wait_for(lambda: "refused-edit" in ops.get("/console/").get_data(as_text=True), "the banner on the queue page")
    assert banner
    page = ops.get("/console/ops/knowledge").get_data(as_text=True)
    line = good.splitlines().index("    reply: Costs vary. Ask the care team for an estimate.") + 1
    assert f"{path}:{line}: intents.costs.replys: unknown field &#39;replys&#39;; did you mean &#39;reply&#39;?" in page
    assert "Patients still get the last good version" in page
    # Patients still get the last good reply; a coordinator, who cannot fix the file, sees no banner.
    # (The patient's first message: the first-contact welcome comes after the answer.)
    assert WhatsApp(app.test_client()).send("how much does it cost") == [
        "Costs vary. Ask the care team for an estimate.\n\n"
        "Notice: information, not medical advice. AGENT for a person, STOP to stop."]
    assert "refused-edit" not in log_in(app, name="Priya Sharma")[0].get("/console/").get_data(as_text=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(good.replace("Costs vary.", "Prices differ."))
    wait_for(lambda: "refused-edit" not in ops.get("/console/").get_data(as_text=True), "the banner to go")
    # Another patient (the first, asking again in a row, would be pointed to the answer above).
    other = WhatsApp(app.test_client(), sender="whatsapp:+919800000099")
    assert other.send("how much does it cost")[0].startswith("Prices differ.")


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_file_is_named_on_the_knowledge_page_with_the_version_served(app, ops, kind):
    path = app.config["SETTINGS"].KNOWLEDGE_PATH
    version = app.extensions["assistant"].knowledge_file.version
    make_hostile(path, kind)
    wait_for(lambda: "refused-edit" in ops.get("/console/").get_data(as_text=True), "the banner on the queue page")
    response = ops.get("/console/ops/knowledge")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and f"<li>{path}:" in page
    assert f'<code class="version">{version}</code>' in page


MEDICAL = ["about_therapy", "how_it_works", "benefits", "cancer_types", "side_effects", "manage_side_effects", "comparison",
           "administration", "duration", "what_to_expect", "research", "eligibility", "nutrition", "lifestyle"]


def test_the_knowledge_page_leads_with_what_needs_sign_off_and_folds_the_rest_by_kind(app, ops):
    page = ops.get("/console/ops/knowledge").get_data(as_text=True)
    needs = re.search(r'<ul class="signoffs" id="needs-signoff">(.*?)</ul>', page, re.S)[1]
    assert re.findall(r"<code>([^<]+)</code>", needs) == MEDICAL + ["emergency"]  # its wording is the clinic's too
    assert '<a href="/console/content/intents/side_effects">Side effects</a> <code>side_effects</code>: not signed off' in needs
    # Sign-off and patient safety first, then the lesser warnings folded, each kind with its count.
    assert page.index('id="signoff"') < page.index('id="urgent-findings"') < page.index('id="warnings"')
    assert "EMERGENCY WORDING: not reviewed by a clinician" in re.search(r'id="urgent-findings">(.*?)</ul>', page, re.S)[1]
    warnings = app.extensions["ops_report"][1].warnings
    closer = sum("sits closer to" in f.problem.message for f in warnings)
    hinglish = sum("has no Hinglish phrase" in f.problem.message for f in warnings)
    assert closer and hinglish
    folded = dict(re.findall(r'<summary>([^<]+?) <span class="count">(\d+)</span></summary>', page))
    assert folded == {"Phrases that sit closer to another intent": str(closer), "Intents with no Hinglish phrase": str(hinglish),
                      "Intents that do not say where their facts come from": "24",
                      # greeting, costs, insurance, financial_assistance, support_groups, human_handoff (and .booking),
                      # thanks_goodbye, opt_out: the medical ones lead the page, the emergency one is about safety.
                      "Not reviewed by a clinician (not medical)": "9"}
    # Signed off today: it leaves the list; signed off long ago: it stays, saying when.
    path, today = app.config["SETTINGS"].KNOWLEDGE_PATH, signoff.today(app.config["SETTINGS"])
    text = open(path, encoding="utf-8").read()
    for reply, day in (("A balanced diet.", today), ("Light activity helps.", today - timedelta(days=400))):
        text = text.replace(f"    reply: {reply} Ask your care team.\n",
                            f"    reply: {reply} Ask your care team.\n    reviewed_by: Dr Rao\n    reviewed_on: {day}\n")
    assert 'id="stale-hindi"' not in page
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace("en: 'Welcome to the test clinic.", "en: 'Welcome to our test clinic."))
    page = ops.get("/console/ops/knowledge").get_data(as_text=True)
    # The greeting's English changed in the file, its Hindi did not.
    stale = re.search(r'<ul class="signoffs" id="stale-hindi">(.*?)</ul>', page, re.S)[1]
    assert re.findall(r'<a href="([^"]+)"><code>([^<]+)</code></a>: its Hindi (\w+)', stale) == [
        ("/console/content/intents/greeting", "greeting", "reply")]
    needs = re.search(r'<ul class="signoffs" id="needs-signoff">(.*?)</ul>', page, re.S)[1]
    assert "nutrition" not in re.findall(r"<code>([^<]+)</code>", needs)
    assert f"<code>lifestyle</code>: signed off by Dr Rao on {today - timedelta(days=400)}, more than 365 days ago" in needs
