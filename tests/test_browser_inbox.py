"""The console as an inbox in a real browser (Chromium, as tests/test_browser.py drives it): history and search,
a chat given to a colleague, the title badge of an urgent chat, and the queue on a phone, by keyboard.

Refresh docs/console-history.png and docs/console-phone.png with UPDATE_SCREENSHOTS=1.
"""

from playwright.sync_api import expect

from tests import test_browser
from tests.conftest import PATIENT, WhatsApp
from tests.test_browser import ATTACK, log_in, screenshot

# The app served over HTTP with its worker, and Chromium: test_browser.py's fixtures.
served, browser = test_browser.served, test_browser.browser
PHONE = {"width": 390, "height": 844}


def closed_chat(app, sender=PATIENT, profile="Asha Verma", text=ATTACK):
    """A patient who wrote `text`, asked for a person, and whose chat Priya closed."""
    patient = WhatsApp(app.test_client(), sender=sender)
    patient.send(text, ProfileName=profile)
    patient.send("agent", ProfileName=profile)
    handoff = app.extensions["assistant"].handoff
    assert handoff.claim(sender, "Priya Sharma")
    assert handoff.hand_back(sender, "Priya Sharma", outcome="answered", event="closed")
    return handoff.store.chat_id(sender)


def no_errors(page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    return errors


def test_the_history_finds_a_closed_chat_by_name_number_or_words_and_shows_patient_text_as_text(served, browser, tmp_path):
    app, base = served
    chat_id = closed_chat(app)
    WhatsApp(app.test_client(), sender="whatsapp:+919811122233").send("agent", ProfileName="Meera")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors = no_errors(page)
    log_in(page, base)

    page.click("nav.pages a:has-text('History')")
    results = page.locator("#history li")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("Meera")  # newest first
    expect(results.nth(0).locator(".state")).to_have_text("Waiting for a coordinator")
    expect(results.nth(1).locator(".state")).to_have_text("Closed")
    for query in ("asha", "5678"):
        page.fill("#q", query)
        page.keyboard.press("Enter")
        expect(results).to_have_count(1)
        expect(results.first.locator("a.who")).to_have_text("Asha Verma")
        expect(results.first.locator(".number")).to_have_text("whatsapp:+*********678")
    page.fill("#q", "ONERROR")
    page.click("form.search button")
    expect(results.first.locator(".match .text")).to_have_text(ATTACK)  # the patient's words, as text
    assert page.locator("#history img").count() == 0
    screenshot(page, "console-history.png", tmp_path)

    results.first.locator("a.who").click()
    expect(page).to_have_url(f"{base}/console/chats/{chat_id}")
    expect(page.locator("#transcript li.patient .text").first).to_have_text(ATTACK)
    assert page.locator("#transcript img").count() == 0
    expect(page.locator(".read-only")).to_contain_text("Read only")
    expect(page.locator("#reply-text")).to_have_count(0)
    expect(page.locator("#handoffs li")).to_have_count(1)
    expect(page.locator("#handoffs li")).to_contain_text("Question answered")
    expect(page.locator("#handoffs li")).to_contain_text("Priya Sharma")
    assert errors == []


def test_a_chat_assigned_to_a_colleague_moves_to_them_and_they_are_told(served, browser):
    app, base = served
    WhatsApp(app.test_client()).send("agent", ProfileName="Asha")
    priya = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    olga = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    errors = no_errors(priya) + no_errors(olga)
    log_in(olga, base, "Olga Ops")
    expect(olga.locator("#waiting tr")).to_have_count(1)
    expect(olga.locator("#notices-box")).to_be_hidden()

    log_in(priya, base)
    priya.locator("#waiting a:has-text('Asha')").click()
    priya.select_option("#give-to", "Olga Ops")
    priya.click("form.give button:has-text('Assign')")
    expect(priya.locator(".flash.info")).to_contain_text("The chat is now with Olga Ops")

    # Olga's open queue page learns it at its next refresh, without a reload.
    notice = olga.locator("#notices a")
    expect(notice).to_have_text("Priya Sharma assigned you a chat with Asha.")
    expect(olga.locator("#waiting tr")).to_have_count(0)
    expect(olga.locator("#claimed tr")).to_contain_text("Olga Ops")
    notice.click()
    expect(olga.locator("#state")).to_have_text("With Olga Ops")
    expect(olga.locator("#transcript")).to_contain_text("Priya Sharma assigned the chat to Olga Ops.")
    expect(olga.locator("#reply-text")).to_be_visible()  # hers to answer now
    olga.click("nav.pages a:has-text('Queue')")
    expect(olga.locator("#notices-box")).to_be_hidden()
    assert errors == []


def test_an_urgent_chat_arriving_raises_the_title_badge_and_is_announced(served, browser):
    app, base = served
    WhatsApp(app.test_client()).send("agent", ProfileName="Asha")
    page = browser.new_page()
    errors = no_errors(page)
    log_in(page, base)
    expect(page.locator("#waiting tr")).to_have_count(1)
    expect(page).to_have_title("Queue · Interleukin care")  # a chat waits, but none is urgent: no badge
    WhatsApp(app.test_client(), sender="whatsapp:+919800055566").send("chest pain now", ProfileName="Meera")
    expect(page).to_have_title("(1) Queue · Interleukin care")
    expect(page.locator("#queue-news")).to_have_text("New chat waiting: Meera (URGENT).")  # announced, Asha not again
    assert page.locator("#queue-news").get_attribute("aria-live") == "polite"
    assert errors == []


def test_the_queue_a_chat_and_its_reply_box_work_on_a_phone_and_by_keyboard(served, browser, twilio_api, tmp_path):
    app, base = served
    WhatsApp(app.test_client()).send("agent", ProfileName="Asha Venkataraman-Subramaniam")
    WhatsApp(app.test_client(), sender="whatsapp:+919800055566").send("chest pain now", ProfileName="Meera")
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors = no_errors(page)
    log_in(page, base)
    rows = page.locator("#waiting tr")
    expect(rows).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for n in range(2):
        expect(rows.nth(n).locator("button:has-text('Claim')")).to_be_in_viewport()
    screenshot(page, "console-phone.png", tmp_path)

    # By keyboard: the skip link first, then on to the first Claim button, its focus plain to see.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to the main content")
    page.keyboard.press("Enter")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Claim":
            break
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("aria-label", "Claim the chat with Meera")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_text("With Priya Sharma (URGENT)")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.fill("#reply-text", "Namaste, I am Priya. Please call 112 now; I will stay with you here.")
    send = page.locator("form.reply button[type=submit]")
    send.scroll_into_view_if_needed()
    expect(send).to_be_in_viewport()
    box = send.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    send.click()
    expect(page.locator("#transcript li.coordinator .text")).to_have_text(
        "Namaste, I am Priya. Please call 112 now; I will stay with you here.")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []
