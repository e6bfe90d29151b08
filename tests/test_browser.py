"""The console in a real browser: Debian's Chromium driven by Playwright, against the app served over HTTP.

The app runs with its background worker, so replies and notices reach the local Twilio stand-in by
themselves, as in production. Refresh docs/console.png with UPDATE_SCREENSHOTS=1.
"""

import os
import shutil
import threading
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from bot import consultations, create_app
from bot.config import ROOT
from bot.console import hash_password
from tests.conftest import CLINIC_NUMBER, PATIENT, WhatsApp, editable_knowledge, queue_chat, wait_for

PASSWORD = "correct horse battery"
ATTACK = "<img src=x onerror=alert(1)>"
# The queue and the conversation poll every few seconds; on a busy two-core machine give them time.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def test_config(test_config, tmp_path):
    """The app on a copy of the fixture knowledge, which a test may edit while it runs."""
    return {**test_config, "KNOWLEDGE_PATH": editable_knowledge(tmp_path)}


@pytest.fixture
def served(test_config):
    """The app on a real HTTP server in a thread, with its background worker running."""
    app = create_app({**test_config, "BACKGROUND_WORKER": True, "ENVIRONMENT": "development"})
    app.extensions["assistant"].store.add_coordinator("Priya Sharma", hash_password(PASSWORD))
    app.extensions["assistant"].store.add_coordinator("Olga Ops", hash_password(PASSWORD), ops=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["worker"].stop()
    store = app.extensions["assistant"].store
    store.redis.delete(*list(store.redis.scan_iter(f"{store.prefix}*")) or ["none"])


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: apt-get install chromium (.ci/run does it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page, base, name="Priya Sharma", path="/console/login"):
    """Open `path` (the login page, or a page that leads to it) and log in as `name`."""
    page.goto(f"{base}{path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")


def screenshot(page, name, tmp_path):
    """Save a screenshot for the README when asked to, otherwise beside the test's files."""
    folder = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not (ROOT / "docs" / name).exists() else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name))
    assert (folder / name).read_bytes().startswith(b"\x89PNG")


def test_a_coordinator_takes_a_chat_replies_and_hands_it_back(served, browser, twilio_api, tmp_path):
    app, base = served
    patient = WhatsApp(app.test_client())
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, base, path="/console/")
    expect(page.locator("h1")).to_contain_text("Waiting for a coordinator")
    expect(page.locator("#waiting-empty")).to_be_visible()

    # New escalations appear without a reload: the marker set on this page load survives.
    page.evaluate("window.loadedOnce = true")
    other = WhatsApp(app.test_client(), sender="whatsapp:+919811122233")
    other.send("talk to a person", ProfileName=ATTACK)
    patient.send(ATTACK)
    patient.send("agent")
    WhatsApp(app.test_client(), sender="whatsapp:+919800055566").send("chest pain now", ProfileName="Meera")
    rows = page.locator("#waiting tr")
    expect(rows).to_have_count(3)
    assert page.evaluate("window.loadedOnce") is True
    expect(rows.nth(0)).to_contain_text("URGENT")
    expect(rows.nth(0)).to_contain_text("Meera")
    expect(rows.nth(1)).to_contain_text(ATTACK)  # a hostile profile name is shown as text
    expect(rows.nth(2)).to_contain_text("Asha")
    expect(rows.nth(2)).to_contain_text("whatsapp:+*********678")
    assert page.locator("#waiting img").count() == 0
    screenshot(page, "console-queue.png", tmp_path)

    rows.nth(2).locator("button:has-text('Claim')").click()
    expect(page.locator("#state")).to_have_text("With Priya Sharma")
    patient_lines = page.locator("#transcript li.patient .text")
    expect(patient_lines.first).to_have_text(ATTACK)
    assert page.locator("#transcript img").count() == 0
    expect(page.locator("#transcript .intent").first).to_have_text("Talk to a person")  # the matched topic's title

    # A new patient message appears in the open conversation.
    patient.send("My father has fever since yesterday, can someone call?")
    expect(page.locator("#transcript")).to_contain_text("My father has fever since yesterday")

    page.click("button.canned-reply:has-text('Call back')")
    expect(page.locator("#reply-text")).to_have_value("We will call you back today.")
    page.fill("#reply-text", "Namaste, I am Priya. I will ask the care team to call you within the hour.")
    page.click("form.reply button[type=submit]")
    sent = wait_for(lambda: [m for m in twilio_api.messages if m.get("Body", "").startswith("Namaste, I am Priya")],
                    "the reply at Twilio")
    assert (sent[0]["To"], sent[0]["From"]) == (PATIENT, CLINIC_NUMBER)
    # Twilio reports delivery; the page shows it without a reload.
    report = {"MessageSid": sent[0]["sid"], "MessageStatus": "delivered", "To": PATIENT}
    assert patient.post(report, path="/twilio/status").status_code == 200
    expect(page.locator("#transcript li.coordinator .status")).to_have_text("Delivered")
    page.fill("#note-text", "Son is the main contact; prefers Hindi.")
    page.click("button:has-text('Save note')")
    expect(page.locator("ul.notes")).to_contain_text("prefers Hindi")
    screenshot(page, "console.png", tmp_path)

    page.click("button:has-text('Hand back to the assistant')")
    expect(page.locator(".flash.info")).to_contain_text("back with the assistant")
    wait_for(lambda: any(m.get("To") == PATIENT and m.get("Body") == "You are back with the assistant."
                         for m in twilio_api.messages), "the patient's notice")
    assert patient.send("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]
    assert dialogs == [] and errors == []


def test_a_consultation_request_shows_its_form_and_is_marked_booked(served, browser, twilio_api):
    app, base = served
    store, zone = app.extensions["assistant"].store, app.extensions["assistant"].handoff.hours.zone
    name = "<script>document.title='owned'</script>Ramesh Kumar"
    form = {"for_whom": "relative", "name": name, "age": 54, "city": "Pune", "cancer": "", "reports": True,
            "day": "Monday", "time": "morning", "call": "video", "reference": "FC-7K2Q", "lang": "en"}
    store.append(PATIENT, "patient", "YES")  # the patient's last answer to the form: the window is open
    queue_chat(store, PATIENT, "consultation", form=form, profile="Asha")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base)

    row = page.locator("#waiting tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Consultation request")
    expect(row.locator(".facts")).to_have_text(f"{name}, 54, Pune · Monday, morning · video call · FC-7K2Q")
    # The page's refresh draws the row again (console.js), facts and all, as text.
    page.evaluate("document.querySelector('#waiting tr').dataset.drawn = 'server'")
    expect(page.locator("#waiting tr[data-drawn]")).to_have_count(0)
    expect(row.locator(".facts")).to_have_text(f"{name}, 54, Pune · Monday, morning · video call · FC-7K2Q")
    row.locator("button:has-text('Claim')").click()
    expect(page.locator("#state")).to_have_text("With Priya Sharma")
    facts = page.locator("section.consultation dl.form")
    expect(facts.locator("dt")).to_have_text(["For", "Patient's name", "Age", "City", "Cancer", "Reports at hand",
                                              "Preferred day", "Part of the day", "Call", "Reference", "Language"])
    expect(facts.locator("dd")).to_have_text(["A relative", name, "54", "Pune", "Not given", "Yes", "Monday", "Morning",
                                              "Video call", "FC-7K2Q", "English"])
    assert page.locator("script:has-text('owned')").count() == 0 and page.title() != "owned"

    when = datetime.now(zone).replace(hour=11, minute=30, second=0, microsecond=0) + timedelta(days=3)
    page.fill("#book-when", when.strftime("%Y-%m-%dT%H:%M"))
    page.click("form.book button:has-text('Mark booked')")
    expect(page.locator(".flash.info")).to_contain_text("Booked for")
    booked = f"Booked for {consultations.when_text(when, 'en')} by Priya Sharma."
    expect(page.locator("#booked")).to_have_text(booked)
    expect(page.locator("#book-when")).to_have_value(when.strftime("%Y-%m-%dT%H:%M"))
    expect(page.locator("form.book button")).to_have_text("Change the booking")
    expect(page.locator("#transcript")).to_contain_text("Priya Sharma booked the consultation")
    wait_for(lambda: any(m.get("To") == PATIENT and m.get("Body", "").startswith(f"Booked for {consultations.when_text(when, 'en')}")
                         for m in twilio_api.messages), "the confirmation at Twilio")
    page.goto(f"{base}/console/")
    expect(page.locator("#claimed tr .booked")).to_have_text(booked)
    assert errors == [] and page.title() != "owned"


def test_the_console_works_under_a_strict_content_security_policy(served, browser):
    """Scripts and styles come from static files only, so the app's own CSP needs no 'unsafe-inline'."""
    app, base = served
    page = browser.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    log_in(page, base)
    policy = page.goto(f"{base}/console/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe-inline" not in policy
    WhatsApp(app.test_client()).send("agent")
    expect(page.locator("#waiting tr")).to_have_count(1)  # the polling script runs under the policy
    assert page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor") == "rgb(11, 85, 99)"
    page.locator("#waiting a").first.click()
    expect(page.locator("#state")).to_have_text("Waiting for a coordinator")
    assert violations == []


def test_operations_read_unanswered_questions_and_activity_and_see_a_refused_edit(served, browser, tmp_path):
    """The ops pages under the strict policy: groups acted on and with a snippet to copy, the chart, the refused-edit banner."""
    app, base = served
    patient, other = WhatsApp(app.test_client()), WhatsApp(app.test_client(), sender="whatsapp:+919811122233")
    patient.send("is parking available at the hospital")
    other.send("Parking available at hospital?")
    patient.send("how much does it cost")
    other.send("can my mother eat mangoes")
    other.send("agent")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, base, "Olga Ops")

    page.click("nav.ops a:has-text('Unanswered')")
    expect(page.locator("#unanswered-total")).to_have_text("3")
    groups = page.locator("section.group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).locator("h2")).to_contain_text("2×")
    expect(groups.nth(0).locator("ul.examples li")).to_have_text(
        ["parking available at hospital?", "is parking available at the hospital"])
    expect(groups.nth(1).locator("ul.examples li")).to_have_text(["can my mother eat mangoes"])
    groups.nth(0).locator("summary:has-text('Or edit responses.yaml yourself')").click()
    snippet = groups.nth(0).locator("pre.snippet")
    expect(snippet).to_contain_text("- parking available at hospital?")
    groups.nth(0).locator("button.copy").click()
    expect(groups.nth(0).locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet.text_content()
    screenshot(page, "ops-unanswered.png", tmp_path)
    # The mangoes question added to Nutrition: the effect first, then published, and the group leaves the list.
    groups.nth(1).get_by_label("Topic that answers them").select_option("nutrition")
    groups.nth(1).locator("button:has-text('Add to this topic')").click()
    expect(page.locator("h1")).to_have_text("Add 1 wording to “Nutrition”")
    expect(page.locator("#no-effect")).to_be_visible()
    page.click("button:has-text('Publish')")
    expect(page.locator(".flash.info")).to_contain_text("Added 1 wording to “Nutrition”")
    expect(page.locator("section.group")).to_have_count(1)
    knowledge_file = app.extensions["assistant"].knowledge_file
    wait_for(lambda: knowledge_file.current().match("can my mother eat mangoes").intent == "nutrition", "the new phrase")
    patient.send(ATTACK)
    page.reload()
    expect(page.locator("section.group ul.examples li").filter(has_text="onerror")).to_have_text([ATTACK.lower()])
    assert page.locator("section.group img").count() == 0  # shown as text, never as HTML

    page.click("nav.ops a:has-text('Activity')")
    expect(page.locator("#total-messages")).to_have_text("6")
    expect(page.locator("#fallback-rate")).to_have_text("66.7%")  # 4 of 6 messages not understood
    expect(page.locator("#handoff-rate")).to_have_text("50.0%")  # 1 of 2 patients handed to a coordinator
    expect(page.locator("#day-chart rect.bar.answered")).to_have_count(30)
    assert page.locator("#day-chart rect.bar.missed").last.get_attribute("height") != "0.0"
    expect(page.locator("#top-intents th")).to_have_text(["costs", "human_handoff"])
    screenshot(page, "ops-activity.png", tmp_path)

    knowledge = app.config["SETTINGS"].KNOWLEDGE_PATH
    good = open(knowledge, encoding="utf-8").read()
    with open(knowledge, "w", encoding="utf-8") as fh:
        fh.write(good.replace("- costs\n", "- cost\n", 1))
    wait_for(lambda: page.reload() and page.locator(".refused-edit").count(), "the refused-edit banner")
    page.click(".refused-edit a")
    expect(page.locator("#refused .problems li")).to_have_text(
        [f"{knowledge}:{good.splitlines().index('- costs') + 1}: menu.2: points at intent 'cost', which does not exist "
         "(did you mean 'costs'?)"])
    expect(page.locator("#check-summary")).to_contain_text("1 error")
    with open(knowledge, "w", encoding="utf-8") as fh:
        fh.write(good)
    wait_for(lambda: page.reload() and page.locator("#serving").count(), "the fixed file to be served")
    expect(page.locator(".refused-edit")).to_have_count(0)
    expect(page.locator("#check-summary")).to_contain_text("0 errors")
    assert problems == []
