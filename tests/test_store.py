"""The store on the embedded Redis and on a Redis server."""

import subprocess
import sys
import uuid

import pytest
import redis

from bot.config import ROOT
from bot.store import Store, connect


@pytest.fixture(scope="module", params=["embedded", "server"])
def redis_client(request, tmp_path_factory, redis_url):
    """Each kind of Redis the app can use; one embedded server for the module, as each takes seconds to stop."""
    return connect("" if request.param == "embedded" else redis_url, str(tmp_path_factory.mktemp("instance")))


@pytest.fixture
def backend(redis_client):
    """A Store with its own key prefix on each kind of Redis."""
    store = Store(redis_client, prefix=f"t{uuid.uuid4().hex}:", transcript_limit=3, retention_seconds=3600)
    yield store
    redis_client.delete(*redis_client.keys(f"{store.prefix}*") or ["none"])


def test_state_round_trips(backend):
    assert backend.load("whatsapp:+911") == {}
    backend.save("whatsapp:+911", {"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}})
    assert backend.load("whatsapp:+911") == {"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}}
    assert backend.load("whatsapp:+912") == {}


def test_transcript_is_capped_and_keeps_the_newest(backend):
    for n in range(5):
        backend.append("whatsapp:+911", "patient", f"message {n} नमस्ते")
    texts = [entry["text"] for entry in backend.transcript("whatsapp:+911")]
    assert texts == ["message 2 नमस्ते", "message 3 नमस्ते", "message 4 नमस्ते"]


def test_everything_expires_after_the_retention_time(backend):
    backend.save("whatsapp:+911", {"a": 1})
    backend.append("whatsapp:+911", "patient", "hi")
    for kind in ("state", "transcript"):
        assert 3500 < backend.redis.ttl(backend.key(kind, "whatsapp:+911")) <= 3600


def test_forget_erases_every_key_of_the_sender_only(backend):
    for sender in ("whatsapp:+911", "whatsapp:+912"):
        backend.save(sender, {"a": 1})
        backend.append(sender, "patient", "hi")
        backend.opt_out(sender)
        backend.record_notice(sender, "v1")
    backend.forget("whatsapp:+911")
    assert backend.redis.keys(f"{backend.prefix}*whatsapp:+911") == []
    assert backend.load("whatsapp:+912") == {"a": 1} and backend.opted_out("whatsapp:+912")
    assert backend.notice("whatsapp:+912") == "v1"


def test_opting_out_and_back_in(backend):
    assert not backend.opted_out("whatsapp:+911")
    backend.opt_out("whatsapp:+911")
    assert backend.opted_out("whatsapp:+911") and not backend.opted_out("whatsapp:+912")
    backend.opt_in("whatsapp:+911")
    assert not backend.opted_out("whatsapp:+911")


def test_the_notice_version_seen_is_recorded(backend):
    assert backend.notice("whatsapp:+911") is None
    backend.record_notice("whatsapp:+911", "2025-06-01")
    assert backend.notice("whatsapp:+911") == "2025-06-01"


def test_a_new_message_extends_the_retention_of_every_key(backend):
    sender = "whatsapp:+911"
    backend.opt_out(sender)
    backend.record_notice(sender, "v1")
    for kind in ("optout", "notice"):
        backend.redis.expire(backend.key(kind, sender), 60)
    backend.save(sender, {"a": 1})
    for kind in ("state", "optout", "notice"):
        assert 3500 < backend.redis.ttl(backend.key(kind, sender)) <= 3600


def test_keys_carry_the_prefix(backend):
    sender = "whatsapp:+910123456789"
    backend.save(sender, {"a": 1})
    backend.append(sender, "patient", "hi")
    keys = backend.redis.keys(f"*{sender}*")
    assert len(keys) == 2 and all(key.startswith(backend.prefix) for key in keys)


def test_embedded_data_survives_a_restart_of_the_app(tmp_path):
    """Two processes one after the other on the same instance folder see the same conversation."""
    script = (
        "import sys; from bot.store import Store, connect; "
        "s = Store(connect('', sys.argv[1])); "
        "s.append('whatsapp:+911', 'patient', sys.argv[2]) if sys.argv[2] else None; "
        "print([m['text'] for m in s.transcript('whatsapp:+911')])"
    )
    run = lambda text: subprocess.run([sys.executable, "-c", script, str(tmp_path), text], cwd=ROOT,
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
        setup.escalate(sender, "asked")
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
    backend.escalate("whatsapp:+911", "asked", now=1000)
    backend.escalate("whatsapp:+912", "offer", now=2000)
    backend.escalate("whatsapp:+913", "emergency", urgent=True, now=3000)
    backend.escalate("whatsapp:+914", "emergency", urgent=True, now=2500)
    assert [c["sender"] for c in backend.waiting()] == ["whatsapp:+914", "whatsapp:+913", "whatsapp:+911", "whatsapp:+912"]
    # Escalating again changes nothing, unless it turns the chat urgent.
    assert backend.escalate("whatsapp:+912", "asked")[1] == ""
    assert backend.escalate("whatsapp:+912", "emergency", urgent=True)[1] == "urgent"
    # Among urgent chats, the longest wait still comes first.
    assert [c["sender"] for c in backend.waiting()] == ["whatsapp:+912", "whatsapp:+914", "whatsapp:+913", "whatsapp:+911"]


def test_a_chat_released_during_an_update_is_not_brought_back(backend):
    backend.escalate("whatsapp:+911", "asked")
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


def test_handoff_data_expires_with_the_retention_time(backend):
    sender = "whatsapp:+911"
    backend.escalate(sender, "asked")
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


def test_forget_also_ends_a_handoff(backend):
    sender = "whatsapp:+911"
    backend.escalate(sender, "asked")
    backend.add_note(sender, "Priya", "note")
    backend.forget(sender)
    assert backend.chat(sender) is None and backend.waiting() == [] and backend.notes(sender) == []
