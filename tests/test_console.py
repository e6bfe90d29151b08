"""The coordinators' console over HTTP (Flask's test client): login, CSRF, the queue, a chat, its forms."""

import re
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot import create_app
from bot.console import hash_password
from bot.inbound import Inbound
from tests.conftest import CLINIC_NUMBER, FIXTURE_KNOWLEDGE, WhatsApp, queue_chat

PASSWORD = "correct horse battery"
SENDER = "whatsapp:+919800000001"
OTHER = "whatsapp:+919800000002"


@pytest.fixture
def accounts(store):
    for name in ("Priya Sharma", "Ravi Kumar"):
        store.add_coordinator(name, hash_password(PASSWORD))


def token(client, path="/console/login"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def log_in(app, name="Priya Sharma", password=PASSWORD, address="127.0.0.1"):
    client = app.test_client()
    response = client.post("/console/login", data={"name": name, "password": password, "csrf_token": token(client)},
                           environ_base={"REMOTE_ADDR": address})
    return client, response


def post(client, path, **data):
    """Submit a console form as the browser would: with the page's CSRF token."""
    return client.post(path, data={"csrf_token": token(client, "/console/"), **data})


def escalate(app, text="agent", sender=SENDER, profile="Asha"):
    app.extensions["assistant"].respond(Inbound(sender=sender, body=text, profile_name=profile))
    return app.extensions["assistant"].store.chat(sender)


def test_every_page_needs_a_login(app, accounts):
    client = app.test_client()
    assert client.get("/console/").headers["Location"].endswith("/console/login")
    assert client.get("/console/queue.json").status_code == 401
    chat = escalate(app)
    assert client.get(f"/console/chats/{chat['id']}").status_code == 302


def test_a_coordinator_logs_in_and_out(app, accounts):
    client, response = log_in(app, name="priya sharma")  # the name is not case-sensitive
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    assert "Logged in as <strong>Priya Sharma</strong>" in client.get("/console/").get_data(as_text=True)
    post(client, "/console/logout")
    assert client.get("/console/").status_code == 302


def test_passwords_are_stored_hashed(store, accounts):
    stored = store.coordinator("Priya Sharma")["password"]
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize("name, password", [("Priya Sharma", "wrong password"), ("Nobody", PASSWORD), ("", "")])
def test_a_wrong_name_or_password_is_refused(app, accounts, name, password):
    client, response = log_in(app, name=name, password=password)
    assert response.status_code == 401
    assert "Wrong name or password." in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_repeated_failures_lock_the_account_even_from_other_addresses(app, accounts):
    limit = app.config["SETTINGS"].LOGIN_MAX_FAILURES
    for n in range(limit):
        assert log_in(app, password="guess", address=f"10.0.0.{n}")[1].status_code == 401
    client, response = log_in(app, address="10.0.1.1")  # the right password, too late
    assert response.status_code == 429
    assert "Too many failed logins" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302
    assert log_in(app, name="Ravi Kumar", address="10.0.1.1")[1].status_code == 302  # other accounts still work


def test_repeated_failures_lock_the_address_across_accounts(app, accounts):
    limit = app.config["SETTINGS"].LOGIN_MAX_FAILURES
    for n in range(limit):
        log_in(app, name=f"guess{n}", password="guess", address="10.9.9.9")
    assert log_in(app, name="Ravi Kumar", address="10.9.9.9")[1].status_code == 429
    assert log_in(app, name="Ravi Kumar", address="10.9.9.10")[1].status_code == 302


def test_simultaneous_wrong_passwords_are_checked_no_more_than_the_limit(app, accounts):
    limit = app.config["SETTINGS"].LOGIN_MAX_FAILURES
    clients = [app.test_client() for _ in range(16)]
    tokens = [token(client) for client in clients]
    start = threading.Barrier(len(clients))
    statuses = []

    def guess(n, client, csrf):
        start.wait()
        form = {"name": "Priya Sharma", "password": f"guess {n}", "csrf_token": csrf}
        statuses.append(client.post("/console/login", data=form, environ_base={"REMOTE_ADDR": f"10.0.2.{n}"}).status_code)

    threads = [threading.Thread(target=guess, args=(n, *pair)) for n, pair in enumerate(zip(clients, tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    # 401 is a password that was checked and wrong; 429 one refused unchecked.
    assert sorted(statuses) == [401] * limit + [429] * (len(clients) - limit)
    assert log_in(app, address="10.0.3.1")[1].status_code == 429  # the right password, within the window


def test_logins_that_succeed_do_not_count_toward_the_limit(app, accounts):
    limit = app.config["SETTINGS"].LOGIN_MAX_FAILURES
    for _ in range(limit + 1):
        assert log_in(app)[1].status_code == 302
    for _ in range(limit):
        assert log_in(app, password="guess")[1].status_code == 401
    assert log_in(app, password="guess")[1].status_code == 429


def saved_cookie(client):
    """The browser's session cookie, as someone could copy and keep it."""
    return client.get_cookie("session").value


def assert_logged_out(app, cookie):
    """A browser presenting `cookie` is sent to the login page, and its page updates are refused."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    page = client.get("/console/")
    assert page.status_code == 302 and page.location.endswith("/console/login")
    client.set_cookie("session", cookie)
    assert client.get("/console/queue.json").status_code == 401


def test_logging_out_ends_every_session_of_the_account(app, accounts):
    client, _ = log_in(app)
    other_browser, _ = log_in(app)
    saved, other = saved_cookie(client), saved_cookie(other_browser)
    post(client, "/console/logout")
    assert_logged_out(app, saved)
    assert_logged_out(app, other)
    assert log_in(app, name="Ravi Kumar")[0].get("/console/").status_code == 200  # other accounts stay logged in
    assert log_in(app)[0].get("/console/").status_code == 200


def test_a_new_password_ends_the_saved_sessions(app, accounts, store):
    saved = saved_cookie(log_in(app)[0])
    store.add_coordinator("Priya Sharma", hash_password("a brand new password"))
    assert_logged_out(app, saved)
    assert log_in(app)[1].status_code == 401
    assert log_in(app, password="a brand new password")[0].get("/console/").status_code == 200


def test_a_removed_account_is_logged_out_and_cannot_log_in(app, accounts, store):
    saved = saved_cookie(log_in(app)[0])
    assert store.remove_coordinator("Priya Sharma") is True
    assert_logged_out(app, saved)
    assert log_in(app)[1].status_code == 401
    # Added again under the same name, it is a new account: the old cookie stays ended.
    store.add_coordinator("Priya Sharma", hash_password(PASSWORD))
    assert_logged_out(app, saved)


def test_the_session_cookie_is_httponly_samesite_and_secure_outside_development(test_config, accounts, store):
    for environment, secure in (("production", True), ("development", False)):
        app = create_app({**test_config, "ENVIRONMENT": environment})
        _, response = log_in(app)
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_a_form_without_a_valid_csrf_token_changes_nothing(app, accounts, store):
    client, _ = log_in(app)
    chat = escalate(app)
    response = client.post(f"/console/chats/{chat['id']}/claim")
    assert response.status_code == 400
    assert "Nothing was changed" in response.get_data(as_text=True)
    response = client.post(f"/console/chats/{chat['id']}/claim", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert store.chat(SENDER)["status"] == "waiting"
    # The login form is protected too.
    assert app.test_client().post("/console/login", data={"name": "Priya Sharma", "password": PASSWORD}).status_code == 400


def test_the_queue_lists_urgent_first_with_reason_name_masked_number_and_wait(app, accounts):
    client, _ = log_in(app)
    escalate(app, sender=OTHER, profile="Meera")
    escalate(app, "i cannot breathe", profile="<b>Asha</b>")
    data = client.get("/console/queue.json").get_json()
    first, second = data["waiting"]
    assert (first["profile"], first["urgent"], first["reason"], first["number"], first["waited"]) == (
        "<b>Asha</b>", True, "possible emergency", "whatsapp:+*********001", "0 min")
    assert (second["profile"], second["urgent"], second["reason"]) == ("Meera", False, "asked for a person")
    page = client.get("/console/").get_data(as_text=True)
    assert "&lt;b&gt;Asha&lt;/b&gt;" in page and "<b>Asha</b>" not in page
    assert "9800000001" not in page and "9800000001" not in str(data)
    assert page.index("URGENT") < page.index("Meera")


def test_claiming_opens_the_chat_and_a_second_claim_is_told_who_won(app, accounts, store):
    priya, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    chat = escalate(app)
    response = post(priya, f"/console/chats/{chat['id']}/claim")
    assert response.headers["Location"].endswith(f"/console/chats/{chat['id']}")
    response = post(ravi, f"/console/chats/{chat['id']}/claim")
    assert response.headers["Location"].endswith("/console/")
    assert "Priya Sharma took this chat first." in ravi.get("/console/").get_data(as_text=True)
    assert store.chat(SENDER)["coordinator"] == "Priya Sharma"
    claimed = ravi.get("/console/queue.json").get_json()["claimed"]
    assert [(c["coordinator"], c["mine"]) for c in claimed] == [("Priya Sharma", False)]


def test_simultaneous_claims_through_the_console_have_one_winner(app, accounts, store):
    chat = escalate(app)
    clients = [log_in(app)[0], log_in(app, name="Ravi Kumar")[0]] * 4
    tokens = [token(client, "/console/") for client in clients]
    start = threading.Barrier(len(clients))
    results = []

    def press(client, csrf):
        start.wait()
        results.append(client.post(f"/console/chats/{chat['id']}/claim", data={"csrf_token": csrf}).headers["Location"])

    threads = [threading.Thread(target=press, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(location.endswith(f"/chats/{chat['id']}") for location in results) == 1
    assert len(results) == len(clients)


def test_the_conversation_page_shows_everything_escaped(app, accounts, store):
    client, _ = log_in(app)
    escalate(app, "how much does it cost")
    escalate(app)
    app.extensions["assistant"].respond(Inbound(sender=SENDER, body="<script>alert(1)</script> & more"))
    chat = store.chat(SENDER)
    post(client, f"/console/chats/{chat['id']}/claim")
    post(client, f"/console/chats/{chat['id']}/note", text="Prefers <i>Hindi</i>")
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page and "<script>alert" not in page
    assert "Prefers &lt;i&gt;Hindi&lt;/i&gt;" in page
    # The topics the assistant matched, by their titles in the knowledge, not their ids.
    assert '<span class="intent" title="The topic the assistant answered">Costs</span>' in page
    assert ">Talk to a person</span>" in page and "human_handoff" not in page
    assert "Costs vary. Ask the care team for an estimate." in page
    assert SENDER in page  # the coordinator who holds the chat sees the number, to call back
    assert "We will call you back today." in page  # canned replies from the knowledge file
    data = client.get(f"/console/chats/{chat['id']}.json").get_json()
    assert [e["role"] for e in data["entries"]] == [
        "patient", "assistant", "event", "patient", "assistant", "patient", "event", "assistant"]
    assert data["entries"][5]["text"] == "<script>alert(1)</script> & more"  # raw in JSON; the page sets textContent
    assert data["state"] == "With Priya Sharma"


def test_a_flood_shows_where_the_assistant_stopped_answering_and_how_many_messages_were_not_kept(make_app, accounts):
    app = make_app(RATE_LIMIT=2, TRANSCRIPT_LIMIT=8)
    chat = escalate(app)
    for n in range(8):
        app.extensions["assistant"].respond(Inbound(sender=SENDER, body=f"are you there {n}", message_sid=f"SM{n}"))
    client, _ = log_in(app)
    texts = [e["text"] for e in client.get(f"/console/chats/{chat['id']}.json").get_json()["entries"]]
    assert "Over the rate limit (2 messages in 60 s): the patient's next messages are kept but not answered " \
           "until the window is over." in texts
    assert [t for t in texts if t.startswith("are you there")] == [f"are you there {n}" for n in range(3)]
    assert texts[-1].startswith("5 message(s) sent over the rate limit not kept (the transcript is full), the last at ")


def test_a_canned_reply_is_offered_in_the_language_the_patient_writes(make_app, accounts, tmp_path):
    path = tmp_path / "responses.yaml"
    path.write_text(FIXTURE_KNOWLEDGE.read_text(encoding="utf-8").replace(
        "  text: We will call you back today.\n",
        "  text:\n    en: We will call you back today.\n    hi: हम आज ही आपको फ़ोन करेंगे।\n", 1), encoding="utf-8")
    app = make_app(KNOWLEDGE_PATH=str(path))  # the same Redis keys as `accounts`
    client, _ = log_in(app)
    english, hindi = escalate(app), escalate(app, sender=OTHER)
    app.extensions["assistant"].respond(Inbound(sender=OTHER, body="क्या कोई मुझसे बात करेगा?"))
    pages = {}
    for name, chat in (("en", english), ("hi", hindi)):
        post(client, f"/console/chats/{chat['id']}/claim")
        pages[name] = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert 'data-text="हम आज ही आपको फ़ोन करेंगे।"' in pages["hi"] and "We will call you back today." not in pages["hi"]
    assert 'data-text="We will call you back today."' in pages["en"] and "हम आज ही" not in pages["en"]
    # no Hindi text for this one: English for both
    assert 'data-text="Hello, I am your coordinator."' in pages["hi"] and "Hello, I am your coordinator." in pages["en"]


def test_notes_stay_private(app, accounts, twilio_api):
    client, _ = log_in(app)
    chat = escalate(app)
    post(client, f"/console/chats/{chat['id']}/claim")
    post(client, f"/console/chats/{chat['id']}/note", text="Daughter is the main contact")
    app.extensions["worker"].run_once()
    assert not any("Daughter" in (m.get("Body") or "") for m in twilio_api.messages)
    ravi, _ = log_in(app, name="Ravi Kumar")
    assert "Daughter is the main contact" in ravi.get(f"/console/chats/{chat['id']}").get_data(as_text=True)


def test_a_reply_from_the_console_reaches_twilio(app, accounts, twilio_api):
    client, _ = log_in(app)
    chat = escalate(app)
    post(client, f"/console/chats/{chat['id']}/claim")
    post(client, f"/console/chats/{chat['id']}/reply", text="  Namaste, Priya here.  ")
    app.extensions["worker"].run_once()
    [message] = [m for m in twilio_api.messages if m.get("Body") == "Namaste, Priya here."]
    assert (message["To"], message["From"]) == (SENDER, CLINIC_NUMBER)
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert '<span class="status" title="Queued to be sent; Twilio has not reported it sent yet.">Waiting to go out</span>' in page


def test_without_sending_set_up_the_console_says_so_and_keeps_no_reply_retrying(make_app, store, twilio_api):
    app = make_app(ENVIRONMENT="development", TWILIO_ACCOUNT_SID="", TWILIO_FROM="")
    app.extensions["assistant"].store.add_coordinator("Priya Sharma", hash_password(PASSWORD))
    client, _ = log_in(app)
    assert "Sending is not set up" in client.get("/console/").get_data(as_text=True)
    chat = escalate(app)
    post(client, f"/console/chats/{chat['id']}/claim")
    page = post(client, f"/console/chats/{chat['id']}/reply", text="Namaste").headers["Location"]
    page = client.get(page).get_data(as_text=True)
    assert "Replies cannot be sent" in page and "TWILIO_ACCOUNT_SID, TWILIO_FROM" in page and "retrying" not in page
    app.extensions["worker"].run_once()
    assert [m for m in twilio_api.messages if m.get("Body") == "Namaste"] == []
    # With sending set up, no such notice.
    client, _ = log_in(make_app())
    assert "Sending is not set up" not in client.get("/console/").get_data(as_text=True)


def test_the_address_of_the_app_leads_to_the_console(app):
    response = app.test_client().get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")


def test_replies_need_the_chat_to_be_yours_and_sensible(app, accounts, twilio_api, store):
    priya, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    chat = escalate(app)
    post(priya, f"/console/chats/{chat['id']}/reply", text="too early")
    assert "Claim this chat before writing" in priya.get("/console/").get_data(as_text=True)
    post(priya, f"/console/chats/{chat['id']}/claim")
    post(ravi, f"/console/chats/{chat['id']}/reply", text="not mine")
    post(ravi, f"/console/chats/{chat['id']}/handback")
    assert "This chat is not yours: it is with priya sharma." in ravi.get("/console/").get_data(as_text=True)
    post(priya, f"/console/chats/{chat['id']}/reply", text="x" * 1601)
    assert "can hold 1600 characters; this one has 1601" in priya.get("/console/").get_data(as_text=True)
    post(priya, f"/console/chats/{chat['id']}/reply", text="   ")
    app.extensions["worker"].run_once()
    assert [m["Body"] for m in twilio_api.messages if m["To"] == SENDER] == ["You are chatting with Priya."]
    assert store.chat(SENDER)["coordinator"] == "Priya Sharma"


def test_the_console_says_when_the_24_hour_window_is_closed(test_config, accounts, twilio_api):
    app = create_app({**test_config, "WINDOW_TEMPLATE_SID": "HX" + "d" * 32})
    store = app.extensions["assistant"].store
    store.append(SENDER, "patient", "agent", at=1_000_000)  # a message from long ago
    queue_chat(store, SENDER, "asked", profile="Asha")
    client, _ = log_in(app)
    chat = store.chat(SENDER)
    post(client, f"/console/chats/{chat['id']}/claim")
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "more than 24 hours old" in page and 'id="window-closed" class="flash warning" >' in page
    post(client, f"/console/chats/{chat['id']}/reply", text="Are you still there?")
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "WhatsApp does not allow free text. The approved template was sent" in page
    assert "<li>Are you still there?</li>" in page  # shown as held
    app.extensions["worker"].run_once()
    assert [m.get("ContentSid") for m in twilio_api.messages] == ["HX" + "d" * 32]


def test_a_consultation_request_is_shown_escaped_and_booked_only_ahead_and_by_its_coordinator(app, accounts, store):
    form = {"for_whom": "self", "name": "<b>Ravi</b>", "age": 61, "city": "Agra & Mathura", "cancer": "lung, stage 2",
            "reports": False, "day": "kal", "time": "evening", "call": "phone", "reference": "FC-2B9X", "lang": "hi"}
    store.append(SENDER, "patient", "haan")
    queue_chat(store, SENDER, "consultation", form=form, profile="Asha")
    queue_chat(store, OTHER, "asked", profile="Ravi")
    priya, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    queue = priya.get("/console/").get_data(as_text=True)
    assert "Consultation request" in queue and "&lt;b&gt;Ravi&lt;/b&gt;, 61, Agra &amp; Mathura" in queue
    assert "<b>Ravi</b>" not in queue
    [waiting] = [c for c in priya.get("/console/queue.json").get_json()["waiting"] if c["facts"]]
    assert waiting["facts"] == "<b>Ravi</b>, 61, Agra & Mathura · kal, evening · phone call · FC-2B9X"
    chat, other = store.chat(SENDER), store.chat(OTHER)
    post(priya, f"/console/chats/{chat['id']}/claim")
    post(ravi, f"/console/chats/{other['id']}/claim")
    page = priya.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "name</dt><dd>&lt;b&gt;Ravi&lt;/b&gt;</dd>" in page and "<dd>Hindi</dd>" in page
    assert 'type="datetime-local"' in page
    # Only ahead, only a consultation request, only the coordinator who has it.
    post(priya, f"/console/chats/{chat['id']}/book", when="2020-01-01T10:00")
    post(priya, f"/console/chats/{chat['id']}/book", when="not a date")
    post(ravi, f"/console/chats/{chat['id']}/book", when="2099-01-01T10:00")
    post(ravi, f"/console/chats/{other['id']}/book", when="2099-01-01T10:00")
    assert store.chat(SENDER)["booked_at"] == 0 and store.chat(OTHER)["booked_at"] == 0
    assert "Only a consultation request can be booked." in ravi.get(f"/console/chats/{other['id']}").get_data(as_text=True)
    post(priya, f"/console/chats/{chat['id']}/book", when="2099-01-01T10:00")
    page = priya.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "Booked for Thursday 1 January 2099, 10:00 by Priya Sharma." in page
    assert store.chat(SENDER)["booked_at"] == datetime(2099, 1, 1, 10, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp()


def test_hand_back_and_close_from_the_console(app, accounts, store, twilio_api):
    client, _ = log_in(app)
    chat = escalate(app)
    post(client, f"/console/chats/{chat['id']}/claim")
    response = post(client, f"/console/chats/{chat['id']}/handback")
    assert response.headers["Location"].endswith("/console/")
    assert store.chat(SENDER) is None
    chat = escalate(app)
    post(client, f"/console/chats/{chat['id']}/claim")
    post(client, f"/console/chats/{chat['id']}/close", outcome="made-up")
    assert store.chat(SENDER)["status"] == "claimed"
    post(client, f"/console/chats/{chat['id']}/close", outcome="answered")
    assert store.chat(SENDER) is None
    assert "Chat closed: Question answered." in client.get("/console/").get_data(as_text=True)
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert "Priya Sharma closed the chat: Question answered." in page and "With the assistant" in page


def test_messages_that_could_not_be_sent_are_shown(app, accounts, twilio_api):
    client, _ = log_in(app)
    twilio_api.refuse(21211, message="Invalid 'To' Phone Number", times=2)
    escalate(app)
    app.extensions["worker"].run_once()
    data = client.get("/console/queue.json").get_json()
    assert len(data["failures"]) == 2 and "21211" in data["failures"][0]["error"]
    assert "Messages that could not be sent" in client.get("/console/").get_data(as_text=True)


def test_an_unknown_chat_is_not_found(app, accounts):
    client, _ = log_in(app)
    assert client.get("/console/chats/nothing-here").status_code == 404
    assert post(client, "/console/chats/nothing-here/claim").status_code == 404


# The inbox: history and search, chats.json, filters, unread counts, giving a chat to a colleague, deliveries in words.

def close_chat(app, client, sender=SENDER, profile="Asha", text="agent"):
    """A chat queued by the patient, taken and closed by the logged-in coordinator; its id."""
    chat = escalate(app, text, sender=sender, profile=profile)
    post(client, f"/console/chats/{chat['id']}/claim")
    post(client, f"/console/chats/{chat['id']}/close", outcome="answered")
    return chat["id"]


def test_chats_json_needs_a_login_and_lists_every_chat_newest_first(app, accounts, store):
    response = app.test_client().get("/console/chats.json")
    assert response.status_code == 401 and response.get_json() == {"error": "log in again"}
    client, _ = log_in(app)
    closed = close_chat(app, client, profile="Asha")
    app.extensions["assistant"].respond(Inbound(sender="whatsapp:+919800000005", body="how much does it cost"))
    claimed = escalate(app, sender=OTHER, profile="Meera")
    post(client, f"/console/chats/{claimed['id']}/claim")
    waiting = escalate(app, sender="whatsapp:+919800000004", profile="<b>Ravi</b>")
    chats = client.get("/console/chats.json").get_json()["chats"]
    assert [(c["profile"], c["number"], c["status"]) for c in chats] == [
        ("<b>Ravi</b>", "whatsapp:+*********004", "waiting"), ("Meera", "whatsapp:+*********002", "claimed"),
        ("(no name)", "whatsapp:+*********005", "assistant"), ("Asha", "whatsapp:+*********001", "closed")]
    assert [c["id"] for c in chats][::3] == [waiting["id"], closed]
    assert set(chats[0]) >= {"id", "profile", "number", "status", "last_message_at"}
    times = [datetime.fromisoformat(c["last_message_at"]) for c in chats]
    assert all(t.utcoffset() is not None for t in times) and times == sorted(times, reverse=True)
    assert "9800000001" not in client.get("/console/chats.json").get_data(as_text=True)
    page = client.get("/console/chats.json?limit=2").get_json()
    assert [c["profile"] for c in page["chats"]] == ["<b>Ravi</b>", "Meera"] and page["next_offset"] == 2
    page = client.get("/console/chats.json?limit=2&offset=2").get_json()
    assert [c["status"] for c in page["chats"]] == ["assistant", "closed"] and page["next_offset"] is None
    assert len(client.get("/console/chats.json?limit=500").get_json()["chats"]) == 4  # capped, never refused


def test_the_history_finds_a_closed_chat_by_name_last_digits_or_words_escaped(app, accounts, store):
    client, _ = log_in(app)
    chat_id = close_chat(app, client, profile="Asha <i>Rao</i>")
    app.extensions["assistant"].respond(Inbound(sender=SENDER, body="Fever <script>alert(1)</script> since Monday"))
    escalate(app, sender=OTHER, profile="Meera")
    for query in ("asha", "RAO", "0001", "+91 98000 00001", "fever MONDAY"):
        found = client.get("/console/chats.json", query_string={"q": query}).get_json()["chats"]
        assert [(c["id"], c["status"]) for c in found] == [(chat_id, "closed")], query
    assert client.get("/console/chats.json?q=001").get_json()["chats"] == []  # 3 digits: too few for a number
    page = client.get("/console/history", query_string={"q": "monday"}).get_data(as_text=True)
    assert "Asha &lt;i&gt;Rao&lt;/i&gt;" in page and "Fever &lt;script&gt;alert(1)&lt;/script&gt; since Monday" in page
    assert "<script>alert" not in page and "<i>Rao" not in page and "9800000001" not in page
    assert f'href="/console/chats/{chat_id}"' in page and "Closed" in page
    everything = client.get("/console/history").get_data(as_text=True)
    assert everything.index("Meera") < everything.index("Asha")  # newest first
    # The closed chat opens, read only, with what became of the patient's chats with coordinators.
    chat_page = client.get(f"/console/chats/{chat_id}").get_data(as_text=True)
    assert "Read only" in chat_page and 'action="/console/chats/' + chat_id + '/reply"' not in chat_page
    assert "Chats with coordinators" in chat_page and "Question answered" in chat_page and "Priya Sharma" in chat_page


def test_a_patient_who_only_talked_with_the_assistant_is_found_by_their_whatsapp_name(app, accounts):
    WhatsApp(app.test_client(), sender=OTHER).send("how much does it cost", ProfileName="Kavya Iyer")
    client, _ = log_in(app)
    [found] = client.get("/console/chats.json", query_string={"q": "kavya"}).get_json()["chats"]
    assert (found["profile"], found["number"], found["status"]) == ("Kavya Iyer", "whatsapp:+*********002", "assistant")


def test_an_erased_patient_leaves_the_history(app, accounts, store):
    client, _ = log_in(app)
    chat_id = close_chat(app, client, profile="Asha")
    escalate(app, sender=OTHER, profile="Meera")
    with store.lock(SENDER) as lock:  # as "delete my data" and `python -m bot erase` do
        lock.conversation.erase()
    assert [c["profile"] for c in client.get("/console/chats.json").get_json()["chats"]] == ["Meera"]
    assert client.get("/console/chats.json?q=asha").get_json()["chats"] == []
    assert "Asha" not in client.get("/console/history").get_data(as_text=True)
    assert client.get(f"/console/chats/{chat_id}").status_code == 404


def test_the_patients_earlier_chats_are_shown_beside_the_current_one(app, accounts, store):
    client, _ = log_in(app)
    close_chat(app, client)
    chat = escalate(app, "agent")
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    handoffs = page[page.index('id="handoffs"'):page.index("</ol>", page.index('id="handoffs"'))]
    assert handoffs.count("<li") == 2 and handoffs.index("Open now") < handoffs.index("Question answered")
    assert "asked for a person · Priya Sharma" in handoffs and 'href="#entry-' in handoffs


def test_a_chat_is_assigned_to_a_colleague_who_is_told_and_only_its_holder_transfers_it(app, accounts, store, twilio_api):
    priya, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    chat = escalate(app, profile="Asha <b>R</b>")
    path = f"/console/chats/{chat['id']}"
    page = priya.get(path).get_data(as_text=True)
    assert '<option value="Ravi Kumar">' in page and '<option value="Priya Sharma">' not in page  # colleagues only
    post(priya, f"{path}/assign", to="Nobody Here")
    assert "There is no console account named Nobody Here." in priya.get(path).get_data(as_text=True)
    response = post(priya, f"{path}/assign", to="ravi kumar")
    assert response.headers["Location"].endswith("/console/")
    assert "The chat is now with Ravi Kumar" in priya.get("/console/").get_data(as_text=True)
    assert store.chat(SENDER)["coordinator"] == "Ravi Kumar"
    queue = ravi.get("/console/").get_data(as_text=True)
    assert f'<a href="{path}">Priya Sharma assigned you a chat with Asha &lt;b&gt;R&lt;/b&gt;.</a>' in queue
    assert ravi.get("/console/queue.json").get_json()["notices"][0]["url"] == path
    assert "Priya Sharma assigned the chat to Ravi Kumar." in ravi.get(path).get_data(as_text=True)
    assert ravi.get("/console/queue.json").get_json()["notices"] == []  # opened: the notice has done its work
    post(priya, f"{path}/transfer", to="Priya Sharma")
    assert "Only the coordinator who has this chat can transfer it; it is with Ravi Kumar." in \
        priya.get(path).get_data(as_text=True)
    post(ravi, f"{path}/transfer", to="Ravi Kumar")
    assert "Choose a colleague other than yourself." in ravi.get(path).get_data(as_text=True)
    post(ravi, f"{path}/transfer", to="Priya Sharma")
    assert store.chat(SENDER)["coordinator"] == "Priya Sharma"
    assert "Ravi Kumar transferred you a chat with" in priya.get("/console/").get_data(as_text=True)
    app.extensions["worker"].run_once()
    assert [m["Body"] for m in twilio_api.messages if m["To"] == SENDER] == [
        "You are chatting with Ravi.", "You are chatting with Priya."]


def test_the_queue_filters_urgent_mine_and_waiting_and_keeps_the_filter_in_its_refresh(app, accounts, store):
    client, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    escalate(app, sender=SENDER, profile="Asha")
    escalate(app, "i cannot breathe", sender=OTHER, profile="Meera")
    mine = escalate(app, sender="whatsapp:+919800000004", profile="Kiran")
    theirs = escalate(app, sender="whatsapp:+919800000005", profile="Dev")
    post(client, f"/console/chats/{mine['id']}/claim")
    post(ravi, f"/console/chats/{theirs['id']}/claim")

    def shown(show):
        data = client.get("/console/queue.json", query_string={"show": show}).get_json()
        return [c["profile"] for c in data["waiting"]], [c["profile"] for c in data["claimed"]]

    assert shown("all") == shown("made-up") == (["Meera", "Asha"], ["Kiran", "Dev"])
    assert shown("urgent") == (["Meera"], [])
    assert shown("mine") == ([], ["Kiran"])
    assert shown("waiting") == (["Meera", "Asha"], [])
    assert [c["profile"] for c in client.get("/console/queue.json?show=mine").get_json()["all_waiting"]] == ["Meera", "Asha"]
    page = client.get("/console/?show=urgent").get_data(as_text=True)
    assert 'data-poll="/console/queue.json?show=urgent"' in page
    assert '<a href="/console/?show=urgent" aria-current="page">Urgent</a>' in page
    assert "<title>(1) Queue · Interleukin care</title>" in page  # one urgent chat waits


def test_the_queue_counts_the_patients_messages_no_coordinator_has_read(app, accounts, store):
    priya, _ = log_in(app)
    ravi, _ = log_in(app, name="Ravi Kumar")
    chat = escalate(app)
    for text in ("hello?", "is anyone there"):
        app.extensions["assistant"].respond(Inbound(sender=SENDER, body=text))

    def unread(client):
        data = client.get("/console/queue.json").get_json()
        return [c["unread"] for c in data["waiting"] + data["claimed"]]

    assert unread(priya) == [3]
    ravi.get(f"/console/chats/{chat['id']}")  # any coordinator reading a waiting chat
    assert unread(priya) == [0]
    post(priya, f"/console/chats/{chat['id']}/claim")
    priya.get(f"/console/chats/{chat['id']}")  # where claiming leads
    app.extensions["assistant"].respond(Inbound(sender=SENDER, body="thank you"))
    assert unread(priya) == [1]
    ravi.get(f"/console/chats/{chat['id']}.json")  # not the holder: still unread for Priya
    assert unread(priya) == [1] and '<span class="unread"' in priya.get("/console/").get_data(as_text=True)
    priya.get(f"/console/chats/{chat['id']}.json")  # the holder's open page refreshing
    assert unread(priya) == [0]


def test_deliveries_that_failed_or_are_retried_are_explained_in_plain_words(app, accounts, store, twilio_api):
    client, _ = log_in(app)
    chat = escalate(app)
    app.extensions["worker"].run_once()  # the alerts to the on-duty numbers
    twilio_api.refuse(20429, status=429, message="Too Many Requests")
    post(client, f"/console/chats/{chat['id']}/claim")  # the patient is told who took the chat
    app.extensions["worker"].run_once()
    [notice] = [e for e in client.get(f"/console/chats/{chat['id']}.json").get_json()["entries"] if e["delivery"]]
    attempts = app.extensions["assistant"].handoff.jobs.attempts
    assert (notice["delivery"], notice["status"], notice["problem"]) == ("retrying", "Not delivered yet", True)
    assert notice["status_note"].startswith("Twilio refused it for now, or could not be reached; it is sent again "
                                            f"automatically, up to {attempts} tries in all")
    twilio_api.refuse(21211, message="Invalid 'To' Phone Number")
    post(client, f"/console/chats/{chat['id']}/reply", text="Namaste")
    app.extensions["worker"].run_once()
    page = client.get(f"/console/chats/{chat['id']}").get_data(as_text=True)
    assert ('<div class="delivery-note">Not delivered: the number is not a valid phone number (Twilio error 21211). '
            "It is not sent again; write again or call the patient.</div>") in page
