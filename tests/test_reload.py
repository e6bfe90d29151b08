"""Hot reload across real worker processes: gunicorn servers started here share one Redis and one knowledge file.

A valid edit reaches every process within seconds; a broken one is refused by each (logged, and the
last good version keeps answering), and a process that starts while the file is broken serves the
last good version kept in Redis instead of failing to boot.
"""

import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import pytest
import redis
from twilio.request_validator import RequestValidator

from bot.config import ROOT
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FIXTURE_KNOWLEDGE, PATIENT, WhatsApp, editable_knowledge, free_port, wait_for

COSTS = "Costs vary. Ask the care team for an estimate."


class Server:
    """`gunicorn wsgi:app` with one worker on a free port, its log in a file."""

    def __init__(self, env, log_path):
        self.port = free_port()
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ready(self):
        try:
            return urllib.request.urlopen(self.url + "/console/login", timeout=2).status == 200
        except OSError:
            assert self.process.poll() is None, f"the server stopped:\n{self.log()}"
            return False

    def send(self, body, sender=PATIENT):
        """Send a signed WhatsApp message; the replies' texts."""
        form = {"From": sender, "Body": body, "MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": ACCOUNT_SID,
                "NumMedia": "0"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(self.url + "/whatsapp", form)
        request = urllib.request.Request(self.url + "/whatsapp", data=urllib.parse.urlencode(form).encode(),
                                         headers={"X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            return [message.text or "" for message in ET.fromstring(response.read()).iter("Message")]

    def answers(self, text):
        """True when the costs question is answered with `text` (asked by a new patient each time: the same patient
        asking again in a row is pointed to the answer above)."""
        return text in self.send("how much does it cost", sender=f"whatsapp:+9198{uuid.uuid4().int % 10**8:08d}")[0]

    def log(self):
        with open(self.log_path) as fh:
            return fh.read()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def servers(redis_url, tmp_path):
    """Start servers on demand (`servers(n)`), all on one knowledge file and one key prefix; stop them after."""
    knowledge = tmp_path / "responses.yaml"
    shutil.copy(FIXTURE_KNOWLEDGE, knowledge)
    prefix = f"test:{uuid.uuid4().hex}:"
    env = {**os.environ, "REDIS_URL": redis_url, "KEY_PREFIX": prefix, "KNOWLEDGE_PATH": str(knowledge),
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ENVIRONMENT": "development", "BACKGROUND_WORKER": "0", "OFFICE_HOURS": "",
           "LOG_LEVEL": "INFO", "RATE_LIMIT": "100000"}  # the test asks again and again
    started = []

    def start(count):
        new = [Server(env, tmp_path / f"server-{len(started) + n}.log") for n in range(count)]
        started.extend(new)
        for server in new:
            wait_for(server.ready, f"the server on port {server.port}", seconds=30)
        return new

    start.knowledge = knowledge
    yield start
    for server in started:
        server.stop()
    client = redis.Redis.from_url(redis_url)
    client.delete(*list(client.scan_iter(f"{prefix}*")) or ["none"])


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_process_takes_a_valid_edit_and_refuses_a_broken_one(servers):
    first, second = servers(2)
    assert first.answers(COSTS) and second.answers(COSTS)

    edit(servers.knowledge, "Costs vary.", "Prices differ.")
    for server in (first, second):
        wait_for(lambda: server.answers("Prices differ."), f"the edit on port {server.port}", seconds=10)

    edit(servers.knowledge, "    reply: Prices differ.", "    replys: Prices differ.")
    line = servers.knowledge.read_text(encoding="utf-8").splitlines().index(
        "    replys: Prices differ. Ask the care team for an estimate.") + 1
    refused = f"{servers.knowledge}:{line}: intents.costs.replys: unknown field 'replys'; did you mean 'reply'?"
    for server in (first, second):
        # Each process reads the file again when asked something, and says in its log why the edit was refused.
        wait_for(lambda: server.answers("Prices differ.") and refused in server.log(),
                 f"the refusal on port {server.port}", seconds=10)
        assert "knowledge edit refused, still serving the last good version" in server.log()

    # A process started while the file is broken serves the last good version, kept in Redis.
    [late] = servers(1)
    assert late.answers("Prices differ.")
    assert refused in late.log()

    edit(servers.knowledge, "    replys: Prices differ.", "    reply: Costs depend on the plan.")
    for server in (first, second, late):
        wait_for(lambda: server.answers("Costs depend on the plan."), f"the fix on port {server.port}", seconds=10)


# Careless or hostile files: each refused at once, with its line, while patients keep the last good version.
def _repeated_phrases(text):
    """The first intent's phrases, 20,000 of them, repeated by alias as every other intent's: 440,000 to read."""
    text = re.sub(r"    phrases:\n(?:    - .*\n)+", "    phrases: *p\n", text)
    many = ", ".join(f"word{n} more{n}" for n in range(20000))
    return text.replace("    phrases: *p\n", f"    phrases: &p [{many}]\n", 1)


HOSTILE = {
    "nested 20,000 deep": lambda text: text.replace(
        "    title: Costs\n", "    title: Costs\n    extra: " + "[" * 20000 + "]" * 20000 + "\n", 1),
    "50 MB pasted": lambda text: text.replace(
        "    title: Costs\n", "    title: Costs\n    note: '" + "x" * (50 * 2**20) + "'\n", 1),
    "an alias bomb": lambda text: text.replace("intents:\n", "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"lol{n}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(9)) + "intents:\n", 1),
    "an alias of itself": lambda text: text.replace("intents:\n", "loop: &loop [x, *loop]\nintents:\n", 1),
    "a long list repeated": _repeated_phrases,
    "a number of 5,000 digits": lambda text: text.replace("    title: Costs\n", "    title: " + "9" * 5000 + "\n", 1),
}


def make_hostile(path, kind):
    """Turn the knowledge file at `path` into one of the HOSTILE kinds."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HOSTILE[kind](text))


def check(path, **env):
    """`python -m bot check PATH` with settings changed: (exit code, everything it printed)."""
    result = subprocess.run([sys.executable, "-m", "bot", "check", str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "LANGUAGE_DIR": "", **env})
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_file_is_refused_by_check_in_a_moment_without_a_traceback(tmp_path, kind):
    path = editable_knowledge(tmp_path)
    make_hostile(path, kind)
    code, output = check(path)
    assert code == 1 and "Traceback" not in output
    assert f"error: {path}:" in output
    assert len(output.splitlines()) < 20  # a plain error, not one per value an alias repeats


@pytest.mark.parametrize("which", ["safety.yaml", "language/synonyms.yaml"])
def test_a_hostile_red_flags_or_language_file_is_refused_by_check(tmp_path, which):
    path = editable_knowledge(tmp_path)
    hostile = tmp_path / which
    hostile.parent.mkdir(exist_ok=True)
    hostile.write_text("version: 1\nloop: &loop {again: *loop}\n", encoding="utf-8")
    settings = {"SAFETY_PATH": str(hostile)} if which == "safety.yaml" else {"LANGUAGE_DIR": str(hostile.parent)}
    code, output = check(path, **settings)
    assert code == 1 and "Traceback" not in output
    assert f"error: {hostile}:2: " in output


def test_a_file_over_the_size_set_is_refused(tmp_path):
    path = editable_knowledge(tmp_path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("# " + "x" * (3 * 2**19) + "\n")  # 1.5 MB of comment
    code, output = check(path, KNOWLEDGE_MAX_MB="1")
    assert code == 1 and f"error: {path}: the file is 1.5 MB; at most 1 MB is read" in output


@pytest.mark.parametrize("kind", HOSTILE)
def test_patients_keep_the_last_good_version_while_a_hostile_file_is_there(make_app, tmp_path, kind):
    path = editable_knowledge(tmp_path)
    app = make_app(KNOWLEDGE_PATH=path)
    whatsapp, knowledge_file = WhatsApp(app.test_client()), app.extensions["assistant"].knowledge_file
    version = knowledge_file.version
    make_hostile(path, kind)
    wait_for(lambda: knowledge_file.current() and knowledge_file.error, "the refusal", seconds=30)
    assert whatsapp.send("how much does it cost")[0].startswith(COSTS)
    assert knowledge_file.version == version
    ready = app.test_client().get("/readyz").get_json()
    assert ready["knowledge_version"] == version and ready["knowledge_refused"][0].startswith("responses.yaml:")


def test_processes_converge_on_one_version_after_a_good_edit_then_a_broken_one(make_app, tmp_path):
    """A good edit that one process took, then a broken one within a second: the other must not stay behind."""
    path = editable_knowledge(tmp_path)
    first, second = make_app(KNOWLEDGE_PATH=path), make_app(KNOWLEDGE_PATH=path)
    files = [app.extensions["assistant"].knowledge_file for app in (first, second)]
    original = files[0].version
    assert files[1].version == original

    edit(tmp_path / "responses.yaml", "Costs vary.", "Prices differ.")
    wait_for(lambda: files[0].current() and files[0].version != original, "the first process to take the edit")
    edit(tmp_path / "responses.yaml", "    reply: Prices differ.", "    replys: Prices differ.")
    # The second process looks at the file only now: it finds the broken edit, never having read the good one.
    wait_for(lambda: files[1].current() and files[1].error, "the second process to refuse the edit")
    wait_for(lambda: files[0].current() and files[0].error, "the first process to refuse the edit")
    wait_for(lambda: files[1].current() and files[1].version == files[0].version, "the processes to agree")
    # A patient each: one patient asking again in a row is pointed to the answer above.
    for n, app in enumerate((first, second)):
        patient = WhatsApp(app.test_client(), sender=f"whatsapp:+91980000100{n}")
        assert patient.send("how much does it cost")[0].startswith("Prices differ.")


def test_processes_converge_after_a_good_then_a_broken_edit_of_a_language_file(make_app, tmp_path):
    """The same race through a language file: its text is part of the version every process serves."""
    path, language = editable_knowledge(tmp_path), tmp_path / "language"
    language.mkdir()
    synonyms = language / "synonyms.yaml"
    synonyms.write_text("synonyms:\n  cost: [charges]\n", encoding="utf-8")
    first, second = (make_app(KNOWLEDGE_PATH=path, LANGUAGE_DIR=str(language)) for _ in range(2))
    files = [app.extensions["assistant"].knowledge_file for app in (first, second)]
    original = files[0].version
    assert not WhatsApp(first.test_client()).send("tariff")[0].startswith(COSTS)

    edit(synonyms, "[charges]", "[charges, tariff]")
    wait_for(lambda: files[0].current() and files[0].version != original, "the first process to take the edit")
    edit(synonyms, "[charges, tariff]", "[charges, tariff")
    wait_for(lambda: files[1].current() and files[1].error, "the second process to refuse the edit")
    wait_for(lambda: files[0].current() and files[0].error, "the first process to refuse the edit")
    wait_for(lambda: files[1].current() and files[1].version == files[0].version, "the processes to agree")
    # A process that starts now never saw the good edit: it serves it all the same.
    late = make_app(KNOWLEDGE_PATH=path, LANGUAGE_DIR=str(language))
    assert late.extensions["assistant"].knowledge_file.version == files[0].version
    for n, app in enumerate((first, second, late)):
        assert WhatsApp(app.test_client(), sender=f"whatsapp:+91980000200{n}").send("tariff")[0].startswith(COSTS)
