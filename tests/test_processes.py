"""The app under real gunicorn processes: two hosts on one Redis, metrics over workers, restarts."""

import glob
import json
import os
import re
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.console import hash_password
from bot.inbound import Inbound
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLINIC_NUMBER,
    FIXTURE_KNOWLEDGE,
    ON_DUTY,
    PATIENT,
    PUBLIC_URL,
    SECRET_KEY,
    Gunicorn,
    RedisServer,
    wait_for,
)


def settings_for(redis_url, data_dir, **more):
    return {
        "ENVIRONMENT": "production", "SECRET_KEY": SECRET_KEY, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_URL, "REDIS_URL": redis_url, "KEY_PREFIX": f"test:{uuid.uuid4().hex}:",
        "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE), "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **more,
    }


def message_sid(n):
    """A MessageSid of Twilio's shape, numbered for the test."""
    return f"SM{n:032x}"


def post(server, body, sid, session=requests):
    """Send one message as Twilio does (signed for the public URL) to one server; return its replies."""
    form = {"From": PATIENT, "Body": body, "MessageSid": sid, "AccountSid": ACCOUNT_SID, "To": CLINIC_NUMBER}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/whatsapp", form)
    response = session.post(server.url + "/whatsapp", data=form, headers={"X-Twilio-Signature": signature}, timeout=30)
    assert response.status_code == 200, response.text
    return [message.text or "" for message in ET.fromstring(response.content).iter("Message")]


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_two_servers_take_one_senders_bursts_in_turn_with_nothing_lost(tmp_path, redis_server, servers, test_config):
    settings = settings_for(redis_server.url, tmp_path / "data", RATE_LIMIT=1000)
    # As on two hosts: one Redis server, a data folder each.
    servers += [Gunicorn({**settings, "DATA_DIR": str(tmp_path / f"host{n}")}) for n in range(2)]
    for server in servers:
        server.start()
    # Menus and picks: a digit means a topic only when the menu it answers was saved just before,
    # so any two messages handled at once (or a lost state update) change what is answered.
    words = ["hello", "2", "hello", "1", "3", "hello", "1", "9", "hello", "2"] * 3
    bursts = {name: [(w, f"SM{name}{n:031d}") for n, w in enumerate(words)] for name in ("a", "b")}
    retries_answered, start = [], Barrier(2)

    def send(server, other, burst):
        with requests.Session() as session:
            start.wait()
            for body, sid in burst:
                post(server, body, sid, session)
                if sid.endswith("5"):  # Twilio retries now and then, through the other server
                    retries_answered.append(post(other, body, sid, session))

    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(send, servers[0], servers[1], bursts["a"]),
                pool.submit(send, servers[1], servers[0], bursts["b"])]
        for future in done:
            future.result()

    app = create_app({**test_config, "REDIS_URL": redis_server.url, "KEY_PREFIX": settings["KEY_PREFIX"]})
    store = app.extensions["assistant"].store
    transcript = store.transcript(PATIENT)
    patient = [m for m in transcript if m["role"] == "patient"]
    # Every message once; each burst in the order it was sent.
    assert sorted(m["sid"] for m in patient) == sorted(sid for burst in bursts.values() for _, sid in burst)
    for name, burst in bursts.items():
        assert [m["sid"] for m in patient if m["sid"].startswith(f"SM{name}")] == [sid for _, sid in burst]
    assert retries_answered == [[]] * 6
    # Not interleaved: each message is followed by its own answer, and the conversation is exactly
    # what one message at a time, in this order, gives.
    assert [m["role"] for m in transcript] == ["patient", "assistant"] * len(patient)
    replay = create_app({**test_config, "REDIS_URL": redis_server.url, "RATE_LIMIT": 1000}).extensions["assistant"]
    expected = [replay.respond(Inbound(sender=PATIENT, body=m["text"]))[0] for m in patient]
    assert [m["text"] for m in transcript if m["role"] == "assistant"] == expected
    assert any(m["text"].startswith("Fever") for m in transcript)  # some digits did pick a topic


class Console:
    """A coordinator's browser behind an HTTPS load balancer: the session cookie goes to whichever host answers."""

    def __init__(self):
        self.cookie = ""

    def get(self, server, path):
        response = requests.get(server.url + path, headers={"Cookie": self.cookie}, allow_redirects=False, timeout=30)
        self._keep(response)
        return response

    def post(self, server, path, form_page, **data):
        """Submit a form with the CSRF token of `form_page`, as served by `server`."""
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get(server, form_page).text)[1]
        response = requests.post(server.url + path, data={"csrf_token": token, **data}, headers={"Cookie": self.cookie},
                                 allow_redirects=False, timeout=30)
        self._keep(response)
        return response

    def _keep(self, response):
        # The cookie is Secure (production); requests would send it over HTTPS only, as the load balancer receives it.
        if "session" in response.cookies:
            self.cookie = f"session={response.cookies['session']}"


def test_two_hosts_on_one_redis_share_patients_coordinators_and_the_job_list(tmp_path, redis_server, servers, twilio_api):
    """The README's deployment on several hosts: REDIS_URL, SECRET_KEY and PUBLIC_BASE_URL the same on every host,
    DATA_DIR its own, a background worker in every process, the same knowledge file."""
    shared = settings_for(redis_server.url, "", OFFICE_HOURS="", ON_DUTY_NUMBERS=",".join(ON_DUTY),
                          TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM=CLINIC_NUMBER, TWILIO_API_BASE_URL=twilio_api.url,
                          BACKGROUND_WORKER=True)
    hosts = [Gunicorn({**shared, "DATA_DIR": str(tmp_path / f"host{n}")}) for n in range(2)]
    servers += hosts
    for host in hosts:
        host.start()
    a, b = hosts

    # A menu one host showed is answered by the other: the conversation lives in Redis.
    assert "1. About therapy\n2. Side effects\n" in post(a, "hello", message_sid(1))[0]
    assert post(b, "2", message_sid(2))[0].startswith("Fever and chills are common.")
    assert post(a, "agent", message_sid(3)) == ["A coordinator will take over. Reply CANCEL to go back."]
    # Both hosts' background workers watch the one job list: each on-duty number is alerted once.
    wait_for(lambda: len(twilio_api.messages) >= len(ON_DUTY), "the alerts")
    time.sleep(2)  # a second worker round on each host, which must send nothing more
    assert sorted(m["To"] for m in twilio_api.messages) == sorted(ON_DUTY)

    # A coordinator logs in on one host; the other host knows the session (SECRET_KEY) and the queue (Redis).
    store = create_app({**shared, "DATA_DIR": str(tmp_path / "admin")}).extensions["assistant"].store
    store.add_coordinator("Priya Sharma", hash_password("correct horse battery"))
    browser = Console()
    assert browser.post(a, "/console/login", "/console/login", name="Priya Sharma",
                        password="correct horse battery").status_code == 302
    queue = browser.get(b, "/console/queue.json").json()
    assert [chat["profile"] for chat in queue["waiting"]] == ["(no name)"]
    chat_id = queue["waiting"][0]["id"]
    assert browser.post(b, f"/console/chats/{chat_id}/claim", "/console/").status_code == 302
    assert browser.post(a, f"/console/chats/{chat_id}/reply", f"/console/chats/{chat_id}",
                        text="Hello, I am Priya.").status_code == 302
    wait_for(lambda: any(m.get("Body") == "Hello, I am Priya." for m in twilio_api.messages), "the reply")
    time.sleep(2)
    to_patient = [m["Body"] for m in twilio_api.messages if m["To"] == PATIENT]
    assert to_patient == ["You are chatting with Priya.", "Hello, I am Priya."]
    # The patient's next message, to either host, reaches the coordinator and not the assistant.
    assert post(b, "thank you", message_sid(4)) == []
    assert [m["text"] for m in store.transcript(PATIENT) if m["role"] == "patient"] == ["hello", "2", "agent", "thank you"]


def metric(server, name):
    text = requests.get(server.url + "/metrics", timeout=5).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_metrics_add_up_over_all_worker_processes(tmp_path, redis_server, servers):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    settings = settings_for(redis_server.url, tmp_path / "data", RATE_LIMIT=1000,
                            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    server = Gunicorn(settings, workers=2, threads=2)
    servers.append(server)
    server.start()
    sent = 0

    def counting_workers():
        return len(glob.glob(str(metrics_dir / "counter_*.db")))

    # Send until both workers have answered some (the kernel picks which worker accepts).
    with ThreadPoolExecutor(4) as pool:
        while counting_workers() < 2 and sent < 400:
            batch = [pool.submit(post, server, "how much does it cost", f"SM{uuid.uuid4().hex}") for _ in range(4)]
            assert all(future.result() for future in batch)
            sent += len(batch)
    assert counting_workers() == 2
    # Whichever worker answers the scrape, it reports the machine's total.
    assert [metric(server, "assistant_messages_received_total") for _ in range(6)] == [sent] * 6
    assert metric(server, "assistant_webhook_seconds_count") == sent


def test_the_embedded_redis_stops_with_the_server(tmp_path, servers):
    settings = settings_for("", tmp_path / "data")
    server = Gunicorn(settings, workers=2)
    servers.append(server)
    assert post(server.start(), "how much does it cost", "SM" + uuid.uuid4().hex)
    with open(tmp_path / "data" / "assistant.rdb.settings", encoding="utf-8") as fh:
        pidfile = json.load(fh)["pidfile"]
    with open(pidfile, encoding="utf-8") as fh:
        redis_server = psutil.Process(int(fh.read()))
    server.stop()
    redis_server.wait(10)  # raises if it is still running
    assert os.path.getsize(tmp_path / "data" / "appendonly.aof") > 0  # what it held is on disk


def test_embedded_redis_data_survives_restarts_of_the_app(tmp_path, servers):
    settings = settings_for("", tmp_path / "data")
    first, second = Gunicorn(settings, workers=2), Gunicorn(settings, workers=2)
    servers += [first, second]
    assert post(first.start(), "how much does it cost", message_sid(1))
    first.stop()
    second.start()
    assert post(second, "what are the side effects", message_sid(2))
    assert post(second, "how much does it cost", message_sid(1)) == []  # even the dedupe keys survived
    replay = create_app({**settings, "REDIS_URL": ""}).extensions["assistant"]
    patient = [m["sid"] for m in replay.store.transcript(PATIENT) if m["role"] == "patient"]
    assert patient == [message_sid(1), message_sid(2)]
    assert os.path.exists(tmp_path / "data" / "appendonly.aof")
    second.stop()
    replay.store.redis.shutdown()
