"""The content editor in a real browser (Debian's Chromium, Playwright): an edit previewed, published and answered on
WhatsApp; a broken one refused with nothing changed; a clinician's sign-off, and an edit clearing it."""

import pytest
from playwright.sync_api import expect

from bot import signoff
from bot.console import hash_password
from tests.conftest import WhatsApp, editable_knowledge, wait_for
from tests.test_browser import PASSWORD, browser, log_in, screenshot, served  # noqa: F401 (fixtures)

ATTACK = "<img src=x onerror=alert(1)>"


@pytest.fixture
def test_config(test_config, tmp_path):
    """The app on a copy of the fixture knowledge, which the editor changes while it runs."""
    return {**test_config, "KNOWLEDGE_PATH": editable_knowledge(tmp_path)}


@pytest.fixture
def clinician(served):  # noqa: F811
    """A clinician's account (not ops) on the served app."""
    served[0].extensions["assistant"].store.add_coordinator("Dr Meera Rao", hash_password(PASSWORD), clinician=True)
    return "Dr Meera Rao"


def watched(page):
    """Page errors and Content-Security-Policy violations, collected (every test expects none)."""
    problems = []
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    return problems


def test_an_edit_is_previewed_published_and_answered_on_whatsapp(served, browser, tmp_path):  # noqa: F811
    app, base = served
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watched(page)
    log_in(page, base, "Olga Ops")
    page.goto(f"{base}/console/content/")
    expect(page.locator("h1")).to_contain_text("What the assistant says")
    page.click("#intents a:has-text('Costs')")
    expect(page.locator("#reply_en")).to_have_value("Costs vary. Ask the care team for an estimate.")
    page.fill("#reply_en", "Costs depend on the hospital and the number of cycles.\n---\nAsk the care team for a written estimate.")
    page.fill("#questions", f"how much does it cost\n{ATTACK}")
    page.click("#preview-button")
    rows = page.locator("#answers tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td.draft .text")).to_contain_text("Costs depend on the hospital")
    expect(rows.nth(0).locator("td.draft .text")).to_contain_text("Reply MORE (1/2)")
    expect(rows.nth(0).locator("td.published .text")).to_contain_text("Costs vary.")
    expect(rows.nth(1).locator("td.question")).to_have_text(ATTACK)  # the editor's text shown as text
    assert page.locator("main img").count() == 0
    # The preview kept the edit in the form; nothing is published yet.
    expect(page.locator("#reply_en")).to_have_value(
        "Costs depend on the hospital and the number of cycles.\n---\nAsk the care team for a written estimate.")
    assert "Costs vary." in open(app.config["SETTINGS"].KNOWLEDGE_PATH, encoding="utf-8").read()
    screenshot(page, "console-content.png", tmp_path)

    page.fill("#summary", "say what the cost depends on")
    page.click("#publish-button")
    expect(page.locator(".flash.info")).to_contain_text("Published.")
    served_file = app.extensions["assistant"].knowledge_file
    wait_for(lambda: served_file.current().pages("costs")[0].startswith("Costs depend"), "the edit to be served")
    assert WhatsApp(app.test_client()).send("how much does it cost")[0].startswith(
        "Costs depend on the hospital and the number of cycles.")

    page.goto(f"{base}/console/content/")
    page.click("#versions-link")
    expect(page.locator("#versions tbody tr").first).to_contain_text("costs: say what the cost depends on")
    expect(page.locator("#versions tbody tr").first).to_contain_text("Olga Ops")
    assert problems == []


def test_a_broken_edit_is_refused_with_its_reason_and_nothing_changes(served, browser):  # noqa: F811
    app, base = served
    path = app.config["SETTINGS"].KNOWLEDGE_PATH
    before = open(path, "rb").read()
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watched(page)
    log_in(page, base, "Olga Ops")
    page.goto(f"{base}/console/content/intents/emergency")
    page.fill("#reply_en", f"Please call a doctor. {ATTACK}")
    page.fill("#summary", "simpler")
    page.click("#publish-button")
    refusals = page.locator("#refusals li")
    expect(refusals.first).to_contain_text("intents.emergency.reply.en: has no {emergency_numbers}")
    expect(page.locator("#reply_en")).to_have_value(f"Please call a doctor. {ATTACK}")  # the editor's text is kept
    assert page.locator("main img").count() == 0

    long = "Costs vary from one hospital to another. " * 30
    page.goto(f"{base}/console/content/intents/costs")
    page.fill("#reply_en", long)
    page.fill("#summary", "longer")
    page.click("#publish-button")
    expect(refusals.first).to_contain_text("intents.costs.reply: is")
    expect(refusals.first).to_contain_text("must stay under 1000")
    assert open(path, "rb").read() == before
    assert app.extensions["assistant"].store.versions("responses.yaml") == []
    assert problems == []


def test_a_clinician_signs_off_a_reply_and_an_edit_clears_it(served, browser, clinician, tmp_path):  # noqa: F811
    app, base = served
    today = signoff.today(app.config["SETTINGS"])
    doctor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watched(doctor)
    log_in(doctor, base, clinician)
    doctor.goto(f"{base}/console/content/intents/side_effects")
    expect(doctor.locator("#signoff")).to_have_text("A medical reply: no clinician has signed it off yet.")
    expect(doctor.locator("#editor")).to_have_count(0)  # a clinician without the ops role does not edit
    doctor.click("#sign-off")
    expect(doctor.locator(".flash.info")).to_contain_text("Signed off by Dr Meera Rao")
    expect(doctor.locator("#signoff")).to_have_text(f"Signed off by Dr Meera Rao on {today}.")
    text = open(app.config["SETTINGS"].KNOWLEDGE_PATH, encoding="utf-8").read()
    assert f'    reviewed_by: "Dr Meera Rao"\n    reviewed_on: {today}\n' in text

    editor = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    problems += watched(editor)
    log_in(editor, base, "Olga Ops")
    editor.goto(f"{base}/console/content/intents/side_effects")
    expect(editor.locator("#clears-signoff")).to_be_visible()
    editor.fill("#reply_en", "Fever, chills and tiredness are common. Ask your care team.")
    editor.fill("#summary", "tiredness")
    editor.click("#publish-button")
    expect(editor.locator(".flash.warning")).to_contain_text("the Hindi reply is marked as needing an update")
    expect(editor.locator("#signoff")).to_have_text("A medical reply: no clinician has signed it off yet.")
    expect(editor.locator("#stale-reply")).to_contain_text("The English reply changed and the Hindi reply did not")
    doctor.reload()
    expect(doctor.locator("#signoff")).to_have_text("A medical reply: no clinician has signed it off yet.")

    editor.goto(f"{base}/console/ops/knowledge")
    expect(editor.locator("#needs-signoff li").filter(has_text="Side effects side_effects")).to_have_text("Side effects side_effects: not signed off")
    editor.locator("#warnings details").first.click()
    screenshot(editor, "console-knowledge.png", tmp_path)
    editor.locator("#needs-signoff a", has_text="Side effects").click()
    expect(editor.locator("#intent-title")).to_contain_text("side_effects")
    assert problems == []
