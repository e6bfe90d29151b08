"""Redis outages: an apology within the request, the message kept on disk, recovery without a restart."""

import fcntl
import os
import signal
import threading
import time

import pytest
import redis

from bot import create_app
from bot.inbound import Inbound
from bot.spool import Spool
from tests.conftest import ON_DUTY, PATIENT, RedisServer, WhatsApp, replies_of, wait_for

APOLOGY = "Sorry, I cannot answer right now. In an emergency call 112 (emergency) or 108 (ambulance)."
COSTS = "Costs vary. Ask the care team for an estimate."
WELCOME = "Notice: information, not medical advice. AGENT for a person, STOP to stop."


def ready(client, within=10.0):
    """Poll /readyz as a load balancer does, until it says ready (or give up)."""
    deadline = time.monotonic() + within
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of this test's own, with persistence, that the test stops and restarts."""
    server = RedisServer(tmp_path, persist=True).start()
    yield server
    server.thaw() if server.process else None
    server.stop()


def test_redis_down_gets_an_apology_and_the_message_comes_back_with_redis(test_config, redis_server):
    app = create_app({**test_config, "REDIS_URL": redis_server.url})
    whatsapp, client = WhatsApp(app.test_client()), app.test_client()
    store = app.extensions["assistant"].store
    assert whatsapp.send("hello")

    redis_server.stop()
    lost_form = whatsapp.form("how much does it cost")
    response = whatsapp.post(lost_form)
    assert response.status_code == 200 and replies_of(response) == [APOLOGY]
    outage = client.get("/readyz")
    assert outage.status_code == 503
    assert outage.get_json()["redis"].startswith("unavailable") and outage.get_json()["kept_on_disk"] == 1
    assert client.get("/healthz").status_code == 200  # the process is fine: nobody should restart it

    redis_server.start()  # same port, its data back from the append-only file
    version = app.extensions["assistant"].knowledge_file.version
    assert ready(client).get_json() == {"ready": True, "redis": "ok", "knowledge": "ok", "knowledge_version": version,
                                        "kept_on_disk": 0}
    transcript = store.transcript(PATIENT)
    assert [(m["role"], m.get("unanswered")) for m in transcript] == [("patient", None), ("assistant", None), ("patient", "redis")]
    assert transcript[-1]["text"] == "how much does it cost" and transcript[-1]["sid"] == lost_form["MessageSid"]
    # Answering again without any restart; Twilio's late retry of the kept message is not recorded twice.
    assert whatsapp.send("how much does it cost") == [COSTS]
    assert replies_of(whatsapp.post(lost_form)) == []
    assert sum(m.get("sid") == lost_form["MessageSid"] for m in store.transcript(PATIENT)) == 1


def test_a_frozen_redis_gets_the_apology_not_a_hang(test_config, redis_server):
    app = create_app({**test_config, "REDIS_URL": redis_server.url, "LOCK_TIMEOUT": 1})
    whatsapp, client = WhatsApp(app.test_client()), app.test_client()
    redis_server.freeze()  # the port accepts connections, nothing answers
    frozen_form = whatsapp.form("how much does it cost")
    assert replies_of(whatsapp.post(frozen_form)) == [APOLOGY]
    assert client.get("/readyz").status_code == 503

    redis_server.thaw()
    assert ready(client).status_code == 200
    # The first answer this patient gets, so the first-contact welcome comes after it.
    assert whatsapp.send("how much does it cost") == [f"{COSTS}\n\n{WELCOME}"]
    store = app.extensions["assistant"].store
    assert [m["sid"] for m in store.transcript(PATIENT) if m["role"] == "patient"][0] == frozen_form["MessageSid"]


def on_disk(persistence):
    return persistence["aof_buffer_length"] == 0 and persistence["aof_pending_bio_fsync"] == 0


def test_a_killed_embedded_redis_is_started_again_with_its_data(test_config):
    app = create_app({**test_config, "REDIS_URL": ""})
    whatsapp, client = WhatsApp(app.test_client()), app.test_client()
    store = app.extensions["assistant"].store
    assert whatsapp.send("how much does it cost") == [f"{COSTS}\n\n{WELCOME}"]  # the first-contact welcome after it
    # What the embedded server promises (appendfsync everysec): a write is on disk within a second or two.
    wait_for(lambda: on_disk(store.redis.info("persistence")), "the append-only file to hold the message", seconds=10)

    os.kill(store.redis.pid, signal.SIGKILL)
    assert whatsapp.send("what are the side effects") == [APOLOGY]
    assert ready(client).status_code == 200
    assert whatsapp.send("hello")
    texts = [m["text"] for m in store.transcript(PATIENT) if m["role"] == "patient"]
    assert texts == ["how much does it cost", "what are the side effects", "hello"]
    store.redis.shutdown(nosave=True)


@pytest.fixture
def assistant(app):
    return app.extensions["assistant"]


def patient_texts(store, sender):
    return [m["text"] for m in store.transcript(sender) if m["role"] == "patient"]


def test_replay_moves_each_message_once_and_keeps_what_redis_refused(tmp_path, assistant, store):
    spool = Spool(str(tmp_path / "spool.jsonl"))
    for n, sender in enumerate(["whatsapp:+911", "whatsapp:+912", "whatsapp:+911"]):
        spool.keep(Inbound(sender=sender, body=f"message {n}", message_sid=f"SM{n}"))
    assert spool.waiting() == 3
    assert os.stat(spool.path).st_mode & 0o777 == 0o600  # patient text: the app's user only

    store.redis.set(store.key("transcript", "whatsapp:+912"), "not a list")  # Redis refuses the second
    with pytest.raises(redis.ResponseError):  # WRONGTYPE
        spool.replay(assistant.recover)
    assert spool.waiting() == 2

    store.redis.delete(store.key("transcript", "whatsapp:+912"))
    assert spool.replay(assistant.recover) == 2
    assert spool.replay(assistant.recover) == 0
    assert patient_texts(store, "whatsapp:+911") == ["message 0", "message 2"]
    assert patient_texts(store, "whatsapp:+912") == ["message 1"]
    # Replaying a file again (two workers, a crash mid-replay) records nothing twice.
    spool.keep(Inbound(sender="whatsapp:+911", body="message 0", message_sid="SM0"))
    spool.replay(assistant.recover)
    assert patient_texts(store, "whatsapp:+911") == ["message 0", "message 2"]


def test_a_line_cut_short_by_a_crash_costs_no_other_message(tmp_path, assistant, store):
    spool = Spool(str(tmp_path / "spool.jsonl"))
    spool.keep(Inbound(sender="whatsapp:+911", body="before", message_sid="SM1"))
    with open(spool.path, "a", encoding="utf-8") as fh:
        fh.write('{"sender": "whatsapp:+911", "bo')  # the process died here
    spool.keep(Inbound(sender="whatsapp:+911", body="after", message_sid="SM2"))
    assert spool.replay(assistant.recover) == 2
    assert patient_texts(store, "whatsapp:+911") == ["before", "after"]
    assert spool.waiting() == 0


def test_messages_kept_during_an_outage_keep_the_time_they_came(test_config, redis_server):
    app = create_app({**test_config, "REDIS_URL": redis_server.url})
    whatsapp, client = WhatsApp(app.test_client()), app.test_client()
    redis_server.stop()
    sent_at = time.time()
    assert whatsapp.send("how much does it cost") == [APOLOGY]
    time.sleep(1.1)
    redis_server.start()
    assert ready(client).status_code == 200
    (kept,) = app.extensions["assistant"].store.transcript(PATIENT)
    assert sent_at <= kept["at"] < sent_at + 1


def test_an_emergency_written_during_an_outage_reaches_a_coordinator_on_recovery(test_config, redis_server, twilio_api):
    app = create_app({**test_config, "REDIS_URL": redis_server.url})
    whatsapp, client = WhatsApp(app.test_client()), app.test_client()
    redis_server.stop()
    assert whatsapp.send("my father has severe chest pain and cannot breathe") == [APOLOGY]
    redis_server.start()
    assert ready(client).status_code == 200

    store = app.extensions["assistant"].store
    (chat,) = store.waiting()
    assert (chat["sender"], chat["urgent"], chat["reason"]) == (PATIENT, True, "emergency")
    app.extensions["worker"].run_once()  # the background worker's round: the alerts go out
    alerts = [m for m in twilio_api.messages if m["To"] in ON_DUTY]
    assert {m["To"] for m in alerts} == set(ON_DUTY) and all(m["Body"].startswith("URGENT") for m in alerts)


def test_a_sender_s_new_message_waits_for_their_messages_kept_on_disk(test_config, redis_server):
    """After an outage another worker is replaying the disk when a patient with messages kept there writes again."""
    app = create_app({**test_config, "REDIS_URL": redis_server.url})
    assistant = app.extensions["assistant"]
    redis_server.stop()
    WhatsApp(app.test_client(), sender="whatsapp:+919800000001").send("a question about costs")
    WhatsApp(app.test_client()).send("how much does it cost")
    redis_server.start()
    assert assistant.store.ping()

    with open(assistant.spool.path + ".replaying", "a") as other_worker:
        fcntl.flock(other_worker, fcntl.LOCK_EX)  # the other worker's replay has begun
        writing = threading.Thread(target=WhatsApp(app.test_client()).send, args=("and what about side effects",))
        writing.start()
        writing.join(0.5)
        assert writing.is_alive() and patient_texts(assistant.store, PATIENT) == []
    writing.join()
    assert patient_texts(assistant.store, PATIENT) == ["how much does it cost", "and what about side effects"]
    # A patient with nothing on disk is not held up by a replay.
    with open(assistant.spool.path + ".replaying", "a") as other_worker:
        fcntl.flock(other_worker, fcntl.LOCK_EX)
        assistant.spool.keep(Inbound(sender="whatsapp:+919800000001", body="later", message_sid="SM" + "0" * 32))
        assert WhatsApp(app.test_client(), sender="whatsapp:+919800000002").send("hello")
