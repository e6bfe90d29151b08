"""Backups and upgrades: `python -m bot backup | restore` on a Redis server and on the embedded one, and the store's
schema version with its migrations.

tests/data/backup-v1.jsonl holds a store of schema version 1 (today's format), taken with `python -m bot backup` from
the embedded Redis 6.2 (any newer Redis restores it) after "hello" from PATIENT (the menu is pending), "agent" from
whatsapp:+919800000002 (waiting in the queue) and `coordinator add "Priya Sharma"`; with RETENTION_DAYS=36500, so its
keys outlive the tests, and without the kept copies of the knowledge files (written again at every start).
"""

import json
import os
import stat
import threading
import time
import uuid

import pytest
import redis

from bot import create_app
from bot.__main__ import main
from bot.config import ConfigError
from bot.console import hash_password
from bot.store import Store, backup, connect, schema, stop_embedded
from tests.conftest import HERE, PATIENT, WhatsApp

V1_BACKUP = HERE / "data" / "backup-v1.jsonl"
WAITING, CLAIMED = "whatsapp:+919800000002", "whatsapp:+919800000003"


@pytest.fixture
def cli(monkeypatch):
    """Run `python -m bot ...` here with the store's settings of `config`; returns the exit status."""
    def run(args, config):
        for name in ("REDIS_URL", "KEY_PREFIX", "DATA_DIR", "KNOWLEDGE_PATH", "LANGUAGE_DIR"):
            monkeypatch.setenv(name, config[name])
        return main(args)

    return run


def send(app, sender, text):
    return WhatsApp(app.test_client(), base_url="http://localhost", sender=sender).send(text)


def store_of(app):
    return app.extensions["assistant"].store


@pytest.fixture(params=["server", "embedded"])
def source_and_target(request, test_config, tmp_path):
    """Settings of a store to back up and of an empty one to restore into: two key prefixes on the Redis server,
    two data folders for the embedded one."""
    if request.param == "server":
        target = {**test_config, "KEY_PREFIX": f"test:{uuid.uuid4().hex}:"}
        yield test_config, target
        client = redis.Redis.from_url(test_config["REDIS_URL"])
        client.delete(*client.keys(f"{target['KEY_PREFIX']}*") or ["none"])
        return
    source = {**test_config, "REDIS_URL": "", "DATA_DIR": str(tmp_path / "source")}
    yield source, {**source, "DATA_DIR": str(tmp_path / "target")}
    for folder in ("source", "target"):
        stop_embedded(str(tmp_path / folder))


def test_a_restored_backup_holds_the_same_conversations_queue_and_accounts(source_and_target, cli, tmp_path):
    source_config, target_config = source_and_target
    source_app = create_app(source_config)
    source = store_of(source_app)
    send(source_app, PATIENT, "hello")  # the menu is pending
    send(source_app, WAITING, "agent")
    send(source_app, CLAIMED, "agent")
    source_app.extensions["assistant"].handoff.claim(CLAIMED, "Priya Sharma")
    source.add_note(CLAIMED, "Priya Sharma", "asked about travel")
    source.add_coordinator("Priya Sharma", hash_password("correct horse battery"), ops=True)

    path = tmp_path / "backup.jsonl.gz"
    assert cli(["backup", str(path)], source_config) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds patients' conversations
    assert cli(["restore", str(path)], target_config) == 0

    target_app = create_app(target_config)
    target = store_of(target_app)
    for sender in (PATIENT, WAITING, CLAIMED):
        assert target.transcript(sender) == source.transcript(sender)
        assert target.load(sender) == source.load(sender)
        assert target.chat(sender) == source.chat(sender)
        assert target.notes(sender) == source.notes(sender)
    assert [chat["sender"] for chat in target.waiting()] == [WAITING]
    assert target.waiting() == source.waiting() and target.claimed() == source.claimed()
    assert target.sender_of(target.chat(CLAIMED)["id"]) == CLAIMED
    assert target.coordinator("Priya Sharma") == source.coordinator("Priya Sharma")
    assert target.schema_version() == source.schema_version() == schema.latest()
    # Each key expires when it would have: the retention time counts from the patient's last message, not the restore.
    for kind in ("transcript", "state"):
        source_ms, target_ms = (s.redis.pttl(s.key(kind, PATIENT)) for s in (source, target))
        assert 0 <= source_ms - target_ms < 1000  # read one after the other

    # The conversations go on where they were: the next message gets the same answer from both stores.
    for sender, text in ((PATIENT, "2"), (WAITING, "are you there?"), (CLAIMED, "thank you")):
        assert send(target_app, sender, text) == send(source_app, sender, text)
        assert [(m["role"], m["text"]) for m in target.transcript(sender)] == \
            [(m["role"], m["text"]) for m in source.transcript(sender)]
    assert target.transcript(PATIENT)[-1]["text"].startswith("Fever and chills")


@pytest.fixture
def server_store(test_config):
    return Store(connect(test_config["REDIS_URL"], ""), prefix=test_config["KEY_PREFIX"])


def test_restore_refuses_a_store_that_is_not_empty_unless_forced(server_store, test_config, cli, tmp_path, capsys):
    server_store.append(PATIENT, "patient", "kept")
    path = tmp_path / "backup.jsonl"
    assert cli(["backup", str(path)], test_config) == 0
    server_store.append(PATIENT, "patient", "after the backup")
    server_store.redis.set(f"{server_store.prefix}extra", "1")

    assert cli(["restore", str(path)], test_config) == 1
    assert "is not empty" in capsys.readouterr().err
    assert len(server_store.transcript(PATIENT)) == 2  # nothing changed
    assert cli(["restore", "--force", str(path)], test_config) == 0
    assert [m["text"] for m in server_store.transcript(PATIENT)] == ["kept"]
    assert not server_store.redis.exists(f"{server_store.prefix}extra")


def test_a_truncated_or_foreign_file_restores_nothing(test_config, cli, tmp_path, capsys, server_store):
    lines = V1_BACKUP.read_text().splitlines(keepends=True)
    truncated, foreign = tmp_path / "truncated.jsonl", tmp_path / "foreign.jsonl"
    truncated.write_text("".join(lines[:-1]))
    foreign.write_text('{"hello": 1}\n')
    for path, why in ((truncated, "not a complete backup"), (foreign, "not a backup of this assistant")):
        assert cli(["restore", str(path)], test_config) == 1
        assert why in capsys.readouterr().err
    assert server_store.redis.keys(f"{server_store.prefix}*") == []


def test_keys_keep_their_expiry_and_those_expired_since_stay_gone(server_store, test_config, cli, tmp_path, capsys):
    client = server_store.redis
    client.set(server_store.key("state", PATIENT), "{}", px=400)
    client.set(server_store.key("notice", PATIENT), "{}", ex=3600)
    client.set(server_store.keys.coordinators, "forever")
    expires = client.execute_command("PEXPIRETIME", server_store.key("notice", PATIENT))
    path = str(tmp_path / "backup.jsonl")
    assert cli(["backup", path], test_config) == 0
    client.delete(*client.keys(f"{server_store.prefix}*"))
    time.sleep(0.5)
    assert cli(["restore", path], test_config) == 0
    assert "1 had expired since the backup" in capsys.readouterr().out
    assert not client.exists(server_store.key("state", PATIENT))
    assert abs(client.execute_command("PEXPIRETIME", server_store.key("notice", PATIENT)) - expires) <= 2
    assert client.ttl(server_store.keys.coordinators) == -1


def test_a_senders_keys_and_the_handoffs_are_read_at_one_instant():
    prefix = "p:"
    keys = [f"{prefix}seen:SM{n}".encode() for n in range(backup.BATCH * 2)]
    keys += [f"{prefix}{kind}:whatsapp:+91{n}".encode() for n in range(100) for kind in ("transcript", "state", "notes")]
    handoff = [f"{prefix}{name}".encode() for name in ("queue:waiting", "queue:claimed", "chat:whatsapp:+911",
                                                        "chatid:abc", "jobs:due", "jobs:data")]
    batches = list(backup._batches(keys + handoff, prefix))
    assert sorted(key for batch in batches for key in batch) == sorted(keys + handoff)
    assert set(handoff) <= set(batches[0])
    for n in range(100):
        (holding,) = [batch for batch in batches if f"{prefix}state:whatsapp:+91{n}".encode() in batch]
        assert f"{prefix}transcript:whatsapp:+91{n}".encode() in holding and f"{prefix}notes:whatsapp:+91{n}".encode() in holding


def test_an_older_store_is_migrated_once_while_many_processes_start(test_config, cli, monkeypatch, make_app):
    assert cli(["restore", str(V1_BACKUP)], test_config) == 0
    runs = []

    def keep_the_version_in_each_state(client, keys):
        """A migration of the test's own: version 2 notes in every conversation state that it was migrated."""
        runs.append(1)
        time.sleep(0.3)  # long enough for every process to find the migration under way
        for key in client.scan_iter(match=keys.of("state", "*")):
            client.set(key, json.dumps({**json.loads(client.get(key)), "migrated": 2}), keepttl=True)

    monkeypatch.setitem(schema.MIGRATIONS, 2, keep_the_version_in_each_state)
    stores = [Store(connect(test_config["REDIS_URL"], ""), prefix=test_config["KEY_PREFIX"]) for _ in range(8)]
    assert stores[0].schema_version() == 1
    start, versions = threading.Barrier(len(stores)), []

    def start_up(store):
        start.wait()
        versions.append(store.upgrade())

    threads = [threading.Thread(target=start_up, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert versions == [2] * len(stores) and runs == [1]
    app = make_app()
    store = store_of(app)
    assert store.schema_version() == 2 and runs == [1]
    assert store.load(PATIENT)["migrated"] == 2
    # The patient of the old release goes on where they were: the menu they were shown answers their "2".
    assert send(app, PATIENT, "2")[0].startswith("Fever and chills")
    assert [chat["sender"] for chat in store.waiting()] == [WAITING]
    assert store.coordinator("Priya Sharma")["ops"]


def test_an_erasure_made_after_a_backup_is_made_again_after_its_restore(test_config, cli, make_app, capsys):
    """README, Backups: a restore brings back a patient who asked for erasure since; `erase` honours it again."""
    assert cli(["restore", str(V1_BACKUP)], test_config) == 0
    assert cli(["erase", PATIENT, WAITING], test_config) == 0
    store = store_of(make_app())
    leftover = [key for key in store.redis.keys(f"{store.prefix}*") if PATIENT in key or WAITING in key]
    assert leftover == [] and store.waiting() == [] and store.transcript(PATIENT) == []
    assert store.coordinator("Priya Sharma")  # what is not the patients' stays


def test_a_migration_left_by_a_process_that_died_is_taken_over(server_store, monkeypatch):
    server_store.redis.set(server_store.keys.schema, 1)
    server_store.redis.set(server_store.keys.schema_lock, "a process that died", px=300)
    monkeypatch.setitem(schema.MIGRATIONS, 2, lambda client, keys: None)
    assert server_store.upgrade(lock_seconds=5) == 2
    assert not server_store.redis.exists(server_store.keys.schema_lock)


def test_a_store_or_a_backup_of_a_newer_release_is_refused(server_store, test_config, make_app, cli, tmp_path, capsys):
    server_store.redis.set(server_store.keys.schema, schema.latest() + 1)
    with pytest.raises(ConfigError, match="holds data of a newer release"):
        make_app()
    server_store.redis.delete(server_store.keys.schema)
    header, *rest = V1_BACKUP.read_text().splitlines(keepends=True)
    for change, why in (({"schema": schema.latest() + 1}, "holds data of a newer release"),
                        ({"redis_version": "99.0.1"}, "restore it into Redis 99.0 or newer")):
        path = tmp_path / "changed.jsonl"
        path.write_text(json.dumps({**json.loads(header), **change}) + "\n" + "".join(rest))
        assert cli(["restore", str(path)], test_config) != 0
        assert why in capsys.readouterr().err
    assert server_store.redis.keys(f"{server_store.prefix}*") == []
