"""The content editor over HTTP: who may edit and sign off, an edit previewed, published (or refused) and answered by
the webhook, versions restored, sign-off kept and cleared, unsigned medical replies held back, stale Hindi flagged."""

import datetime
import html
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from bot import signoff
from bot.config import ConfigError, Settings
from bot.console import hash_password
from tests.conftest import PATIENT, WhatsApp, editable_knowledge, wait_for
from tests.test_console import PASSWORD, log_in

COSTS = "/console/content/intents/costs"


@pytest.fixture
def test_config(test_config, tmp_path):
    """The app on a copy of the fixture knowledge, which the editor (and a test) changes while it runs."""
    return {**test_config, "KNOWLEDGE_PATH": editable_knowledge(tmp_path)}


@pytest.fixture
def accounts(store):
    store.add_coordinator("Olga Ops", hash_password(PASSWORD), ops=True)
    store.add_coordinator("Dr Meera Rao", hash_password(PASSWORD), clinician=True)
    store.add_coordinator("Priya Sharma", hash_password(PASSWORD))


@pytest.fixture
def ops(app, accounts):
    return log_in(app, name="Olga Ops")[0]


@pytest.fixture
def clinician(app, accounts):
    return log_in(app, name="Dr Meera Rao")[0]


def path_of(app):
    return app.config["SETTINGS"].KNOWLEDGE_PATH


def read(app):
    with open(path_of(app), encoding="utf-8") as fh:
        return fh.read()


def write(app, text):
    with open(path_of(app), "w", encoding="utf-8") as fh:
        fh.write(text)


class _Fields(HTMLParser):
    """The fields of one form of a page, as a browser would submit them (the first button's action aside)."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside, self.fields, self.textarea = form_id, False, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif self.inside and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif self.inside and tag == "textarea":
            self.textarea = attrs["name"]
            self.fields[self.textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data


def form_of(page, form_id="editor"):
    """The values of a form on the page; a textarea's first newline is dropped, as browsers do."""
    parser = _Fields(form_id)
    parser.feed(page)
    return {name: value[1:] if value.startswith("\n") else value for name, value in parser.fields.items()}


def submit(client, path, action="preview", **changes):
    """Open an editor page, change some fields and press Preview or Publish."""
    fields = form_of(client.get(path).get_data(as_text=True))
    return client.post(path, data={**fields, **changes, "action": action})


def text_of(response):
    return html.unescape(response.get_data(as_text=True))


def words_of(response):
    """What the page says, as a reader sees it: no tags, spaces as one."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def test_the_editor_needs_the_ops_role_and_signing_the_clinician_role(app, accounts):
    assert app.test_client().get("/console/content/").headers["Location"].endswith("/console/login")
    coordinator = log_in(app, name="Priya Sharma")[0]
    for page in ("/console/content/", COSTS, "/console/content/versions", "/console/content/messages/fallback"):
        refused = coordinator.get(page)
        assert refused.status_code == 403
        assert 'python -m bot coordinator add "Priya Sharma" --ops' in text_of(refused)
    before = read(app)
    ops_page = log_in(app, name="Olga Ops")[0].get(COSTS).get_data(as_text=True)
    assert 'id="editor"' in ops_page and 'id="sign-off"' not in ops_page
    clinician = log_in(app, name="Dr Meera Rao")[0]
    page = clinician.get(COSTS).get_data(as_text=True)
    assert 'id="sign-off"' in page and 'id="editor"' not in page and "Costs vary." in page
    # A clinician without the ops role reads but does not edit; an ops account does not sign.
    ops = log_in(app, name="Olga Ops")[0]
    fields = form_of(ops.get(COSTS).get_data(as_text=True))
    signing = form_of(page, "sign-form")
    edit = {**fields, "csrf_token": signing["csrf_token"], "reply_en": "Free.", "summary": "x", "action": "publish"}
    assert clinician.post(COSTS, data=edit).status_code == 403
    assert ops.post(COSTS + "/sign", data={**signing, "csrf_token": fields["csrf_token"]}).status_code == 403
    # A form without the page's CSRF token (another site's) changes nothing either.
    assert ops.post(COSTS, data={**fields, "csrf_token": "", "reply_en": "Free.", "summary": "x", "action": "publish"}).status_code == 400
    assert read(app) == before


def test_an_edit_is_previewed_then_published_and_the_webhook_answers_with_it(app, ops, whatsapp, store):
    before = read(app)
    preview = submit(ops, COSTS, reply_en="Costs depend on the hospital.\n---\nAsk the care team for an estimate.",
                     questions="how much does it cost\nwhat is the capital of peru")
    page = text_of(preview)
    assert preview.status_code == 200 and 'id="refusals"' not in page
    rows = re.findall(r'<tr class="[^"]*">(.*?)</tr>', page, re.S)
    assert "how much does it cost" in rows[0] and "Costs depend on the hospital." in rows[0] and "Costs vary." in rows[0]
    assert "Reply MORE (1/2)" in rows[0]  # two pages: the patient gets the first, MORE for the next
    assert "not understood" in rows[1]
    assert read(app) == before  # a preview changes nothing

    refused = submit(ops, COSTS, "publish", reply_en="Costs depend on the hospital.")
    assert refused.status_code == 409 and "Write a line saying what you changed" in text_of(refused)
    assert read(app) == before
    published = submit(ops, COSTS, "publish", reply_en="Costs depend on the hospital.", summary="say what costs depend on")
    assert published.status_code == 302 and published.location.endswith(COSTS)
    after = read(app)
    # Only the line of the reply changed; every other line of the file is as it was.
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines()) if old != new]
    assert changed == [("    reply: Costs vary. Ask the care team for an estimate.", '    reply: "Costs depend on the hospital."')]
    assert len(before.splitlines()) == len(after.splitlines())
    assert "Published." in text_of(ops.get(COSTS))
    served = app.extensions["assistant"].knowledge_file
    wait_for(lambda: served.current().pages("costs") == ("Costs depend on the hospital.",), "the edit to be served")
    assert whatsapp.send("how much does it cost")[0].startswith("Costs depend on the hospital.")
    [version, first] = store.versions("responses.yaml")
    assert (version["by"], version["summary"]) == ("Olga Ops", "costs: say what costs depend on")
    assert first["summary"] == "before the first edit in the console"
    listed = text_of(ops.get("/console/content/versions"))
    assert "costs: say what costs depend on" in listed and "served now" in listed


def test_a_broken_edit_is_refused_with_its_reason_and_the_file_is_unchanged(app, ops):
    before = open(path_of(app), "rb").read()
    long = "Costs <b>vary</b> by hospital. " * 40
    refused = submit(ops, COSTS, "publish", reply_en=long, summary="longer")
    page = text_of(refused)
    assert refused.status_code == 409
    assert re.search(r"responses\.yaml line \d+, intents\.costs\.reply: is \d+ characters; WhatsApp messages here must stay under 1000", page)
    assert long.strip() in page  # the editor's text is kept in the form
    assert "&lt;b&gt;vary&lt;/b&gt;" in refused.get_data(as_text=True)  # and shown as text
    emergency = submit(ops, "/console/content/intents/emergency", "publish", reply_en="Call a doctor now.",
                       summary="shorter")
    assert emergency.status_code == 409
    assert "intents.emergency.reply.en: has no {emergency_numbers}: it is the emergency reply and must give them" in text_of(emergency)
    assert open(path_of(app), "rb").read() == before
    assert app.extensions["assistant"].store.versions("responses.yaml") == []


def test_an_edit_of_a_file_changed_meanwhile_is_refused(app, ops):
    fields = form_of(ops.get(COSTS).get_data(as_text=True))
    meanwhile = read(app).replace("reply: Check with your insurer.", "reply: Ask your insurer.")
    write(app, meanwhile)
    refused = ops.post(COSTS, data={**fields, "reply_en": "Free for all.", "summary": "cheaper", "action": "publish"})
    assert refused.status_code == 409
    assert "responses.yaml was changed by someone else since you opened it: nothing was published" in text_of(refused)
    assert "Free for all." in text_of(refused)
    assert read(app) == meanwhile


def test_a_version_is_restored_as_a_new_version(app, ops, store):
    original = read(app)
    submit(ops, COSTS, "publish", reply_en="Prices differ.", summary="shorter")
    assert "Prices differ." in read(app)
    oldest = store.versions("responses.yaml")[-1]
    page = ops.get(f"/console/content/versions/{oldest['id']}").get_data(as_text=True)
    assert '-    reply: "Prices differ."' in html.unescape(page)  # the difference with the file now
    restored = ops.post(f"/console/content/versions/{oldest['id']}/restore", data=form_of(page, "restore-form"))
    assert restored.status_code == 302
    assert read(app) == original
    newest = store.versions("responses.yaml")[0]
    assert newest["by"] == "Olga Ops" and newest["summary"].startswith("restored the version of")
    assert len(store.versions("responses.yaml")) == 3
    other = WhatsApp(app.test_client(), sender="whatsapp:+919800000077")
    served = app.extensions["assistant"].knowledge_file
    wait_for(lambda: served.current().pages("costs")[0].startswith("Costs vary."), "the restored version to be served")
    assert other.send("how much does it cost")[0].startswith("Costs vary.")


def test_a_clinician_signs_off_and_an_edit_of_the_reply_clears_it(app, clinician, ops):
    page = "/console/content/intents/side_effects"
    before = read(app)
    signed = clinician.post(page + "/sign", data=form_of(clinician.get(page).get_data(as_text=True), "sign-form"))
    assert signed.status_code == 302
    today = datetime.datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
    after = read(app)
    assert f'    reviewed_by: "Dr Meera Rao"\n    reviewed_on: {today}\n  manage_side_effects:' in after
    assert after.replace(f'    reviewed_by: "Dr Meera Rao"\n    reviewed_on: {today}\n', "") == before
    assert f"Signed off by Dr Meera Rao on {today}." in words_of(clinician.get(page))
    assert app.extensions["assistant"].store.versions("responses.yaml")[0]["summary"] == "side_effects: signed off by Dr Meera Rao"
    # Phrases are not what a clinician signs: adding one keeps the sign-off.
    fields = form_of(ops.get(page).get_data(as_text=True))
    ops.post(page, data={**fields, "phrases": fields["phrases"] + "\nwhat side effects can happen", "summary": "phrase",
                         "action": "publish"})
    assert 'reviewed_by: "Dr Meera Rao"' in read(app) and "    - what side effects can happen\n" in read(app)
    # The Hindi reply is part of what was signed: editing it clears the sign-off.
    fields = form_of(ops.get(page).get_data(as_text=True))
    ops.post(page, data={**fields, "reply_hi": "बुखार और कंपकंपी आम हैं। अपनी केयर टीम से पूछें।", "summary": "Hindi wording",
                         "action": "publish"})
    assert "    reviewed_by: null\n    reviewed_on: null\n" in read(app)
    assert "A medical reply: no clinician has signed it off yet." in words_of(ops.get(page))


def test_unsigned_medical_replies_offer_a_coordinator_when_set_to(make_app, tmp_path):
    path = editable_knowledge(tmp_path)
    text = open(path, encoding="utf-8").read()
    signed = text.replace("    reply: A balanced diet. Ask your care team.\n",
                          "    reply: A balanced diet. Ask your care team.\n    reviewed_by: Dr Rao\n    reviewed_on: 2025-01-02\n")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(signed)
    app = make_app(KNOWLEDGE_PATH=path, UNSIGNED_MEDICAL_REPLIES="offer")
    patient = WhatsApp(app.test_client())
    offer = "Shall I ask a coordinator? Reply YES. In an emergency call 112 (emergency) or 108 (ambulance)."
    assert patient.send("what are the side effects")[0].startswith(offer)
    assert patient.send("yes") == ["A coordinator will reply soon. Reply CANCEL to go back."]
    store = app.extensions["assistant"].store
    assert store.chat(PATIENT)["status"] == "waiting"
    other = WhatsApp(app.test_client(), sender="whatsapp:+919800000088")
    assert other.send("what should i eat")[0].startswith("A balanced diet. Ask your care team.")
    assert other.send("how much does it cost")[0].startswith("Costs vary.")  # not medical: sent, signed or not
    assert other.send("chest pain now")[0].startswith("Call 112 (emergency) or 108 (ambulance) now.")


def test_unsigned_medical_replies_are_sent_by_default(whatsapp, returning):
    assert whatsapp.send("what are the side effects")[0].startswith("Fever and chills are common.")


def test_hindi_is_flagged_after_an_english_edit_until_edited_or_confirmed(app, ops):
    page = "/console/content/intents/side_effects"
    assert "needs an update" not in text_of(ops.get("/console/content/"))
    submit(ops, page, "publish", reply_en="Fever, chills and tiredness are common. Ask your care team.", summary="tiredness")
    listed = text_of(ops.get("/console/content/"))
    assert re.search(r'data-intent="side_effects">.*?Hindi reply needs an update', listed, re.S)
    assert re.search(r'data-intent="greeting">((?!</tr>).)*</tr>', listed, re.S)[0].count("needs an update") == 0
    shown = text_of(ops.get(page))
    assert 'id="stale-reply"' in shown and "The English reply changed and the Hindi reply did not" in shown
    submit(ops, page, "publish", reply_hi="बुखार, ठंड और थकान आम हैं। अपनी केयर टीम से पूछें।", summary="Hindi too")
    assert "needs an update" not in text_of(ops.get("/console/content/"))

    # An edit made in the file is noticed the same way; an editor may confirm the Hindi is still right.
    write(app, read(app).replace("en: 'Welcome to the test clinic.", "en: 'Welcome to our test clinic."))
    listed = text_of(ops.get("/console/content/"))
    assert re.search(r'data-intent="greeting">.*?Hindi reply needs an update', listed, re.S)
    greeting = ops.get("/console/content/intents/greeting").get_data(as_text=True)
    confirmed = ops.post("/console/content/hindi", data=form_of(greeting, "confirm-reply"))
    assert confirmed.status_code == 302
    assert "needs an update" not in text_of(ops.get("/console/content/"))


def test_a_message_is_edited_per_language(app, ops, whatsapp, returning):
    page = "/console/content/messages/fallback"
    fields = form_of(ops.get(page).get_data(as_text=True))
    assert fields["text_en"].startswith("Sorry, I did not understand.")
    before = read(app)
    refused = ops.post(page, data={**fields, "text_en": "Sorry, I did not get that.", "summary": "x", "action": "publish"})
    assert refused.status_code == 409 and "is not an answer, so it must give the emergency numbers too" in text_of(refused)
    assert read(app) == before
    new = "Sorry, I did not get that. Reply MENU for topics. In an emergency call {emergency_numbers}."
    assert ops.post(page, data={**fields, "text_en": new, "summary": "friendlier", "action": "publish"}).status_code == 302
    assert f"    en: {new}\n" in read(app) or f'    en: "{new}"\n' in read(app)
    served = app.extensions["assistant"].knowledge_file
    wait_for(lambda: served.current().message("fallback").startswith("Sorry, I did not get that."), "the edit to be served")
    assert whatsapp.send("what is the capital of peru")[0].startswith("Sorry, I did not get that.")
    # Only the English changed: its Hindi is now flagged.
    assert 'id="stale-text"' in ops.get(page).get_data(as_text=True)


def test_medical_intents_cover_their_sub_intents_and_the_setting_is_checked():
    settings = Settings.from_env({}, MEDICAL_INTENTS="side_effects, benefits")
    assert [signoff.medical(i, settings) for i in ("side_effects", "benefits.prognosis", "costs", "side_effects_x")] == [
        True, True, False, False]
    with pytest.raises(ConfigError, match="UNSIGNED_MEDICAL_REPLIES must be send or offer, not 'hold'"):
        Settings.from_env({"UNSIGNED_MEDICAL_REPLIES": "hold"})


def test_a_new_password_keeps_the_clinician_role_and_false_takes_it_away(store):
    store.add_coordinator("Dr Meera Rao", "hash", clinician=True)
    store.add_coordinator("Dr Meera Rao", "another hash")
    assert (store.coordinator("Dr Meera Rao")["clinician"], store.coordinator("Dr Meera Rao")["ops"]) == (True, False)
    store.add_coordinator("Dr Meera Rao", "a third hash", clinician=False)
    assert store.coordinator("Dr Meera Rao")["clinician"] is False
