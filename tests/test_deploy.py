"""Deployment: the container's files, and Redis as run in production (password, ACL user, TLS, Sentinel; no Cluster)."""

import json
import re
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis
import requests
import yaml
from twilio.request_validator import RequestValidator

from bot import create_app, redis_for
from bot.config import ROOT, ConfigError, Settings
from bot.store import Store, refuse_cluster
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLINIC_NUMBER,
    FIXTURE_KNOWLEDGE,
    PATIENT,
    PUBLIC_URL,
    SECRET_KEY,
    Gunicorn,
    WhatsApp,
    free_port,
    wait_for,
)

PASSWORD = "0123456789abcdef" * 2


def dockerfile():
    """The Dockerfile's instructions as (NAME, arguments), continuation lines joined, comments left out."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def procfile_command():
    (web,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    return web.removeprefix("web:").strip()


def interpolate(value, env):
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, with `env` as the .env file."""
    def one(match):
        name, how, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        assert how != ":?", f"compose would stop: {rest}"
        return rest if how == ":-" else ""

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_image_runs_the_procfile_command_as_a_user_without_privileges():
    steps = dockerfile()
    images = [arguments for name, arguments in steps if name == "FROM"]
    # An exact Python release (or a digest), never a moving tag such as python:3.11-slim.
    assert images and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?( AS \w+)?", i) for i in images)
    final = steps[max(n for n, (name, _) in enumerate(steps) if name == "FROM"):]
    users = [arguments for name, arguments in final if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any("pip install" in arguments and "-r /tmp/requirements.txt" in arguments for name, arguments in steps if name == "RUN")
    (command,) = [json.loads(arguments) for name, arguments in final if name == "CMD"]
    assert command == ["/bin/sh", "-c", "exec " + procfile_command()]
    (health,) = [arguments for name, arguments in final if name == "HEALTHCHECK"]
    assert "/healthz" in health
    assert any(name == "ENV" and "DATA_DIR=/data" in arguments for name, arguments in final)
    assert ("VOLUME", '["/data"]') in final
    # Only what the app runs on goes in: never the .env file that holds the secrets.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") + 1:][:3] == ["!bot/", "!intents/", "!language/"] and "!.env" not in ignored
    for needed in ("wsgi.py", "gunicorn.conf.py", "responses.yaml", "safety.yaml", "requirements.txt"):
        assert f"!{needed}" in ignored


def test_compose_runs_redis_with_persistence_and_a_password_the_app_uses():
    services = compose()["services"]
    assert services["redis"]["image"].startswith("redis:7")
    command = [interpolate(part, {"REDIS_PASSWORD": PASSWORD}) for part in services["redis"]["command"]]
    assert command[:1] == ["redis-server"] and command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1] == PASSWORD
    with pytest.raises(AssertionError, match="set REDIS_PASSWORD in .env"):
        interpolate(services["redis"]["command"][-1], {})
    app = services["app"]
    url = redis.connection.parse_url(interpolate(app["environment"]["REDIS_URL"], {"REDIS_PASSWORD": PASSWORD}))
    assert (url["host"], url["port"], url["password"]) == ("redis", 6379, PASSWORD)
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["env_file"] == ".env" and ".env" in (ROOT / ".gitignore").read_text().split()
    assert [volume.split(":")[1] for volume in app["volumes"]] == [app["environment"]["DATA_DIR"]]


class Server:
    """A redis-server of the test's own, with the arguments it is given: Debian's, which has TLS and Sentinel."""

    def __init__(self, directory, *arguments):
        assert shutil.which("redis-server"), "these tests need Debian's redis-server: apt-get install redis-server"
        self.port = free_port()
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), *arguments, "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
             *(("--port", str(self.port)) if "--port" not in arguments else ())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, client=None):
        """Wait until it answers `client` (by default a client without password or TLS; refusing it is answering)."""
        client = client or redis.Redis(port=self.port, retry=None)

        def answers():
            try:
                return client.ping()
            except redis.AuthenticationError:
                return True
            except redis.ConnectionError:
                assert self.process.poll() is None, "redis-server stopped"
                return False
        wait_for(answers, "redis-server", 10)
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def compose_redis(tmp_path, servers):
    """A redis-server run with compose.yaml's command (its password the test's), on a free port."""
    arguments = [interpolate(part, {"REDIS_PASSWORD": PASSWORD}) for part in compose()["services"]["redis"]["command"][1:]]
    server = Server(tmp_path, *arguments)
    servers.append(server)
    return server.wait()


def signed_post(url, body, sid):
    form = {"From": PATIENT, "Body": body, "MessageSid": sid, "AccountSid": ACCOUNT_SID, "To": CLINIC_NUMBER}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/whatsapp", form)
    response = requests.post(url + "/whatsapp", data=form, headers={"X-Twilio-Signature": signature}, timeout=30)
    assert response.status_code == 200, response.text
    return [message.text or "" for message in ET.fromstring(response.content).iter("Message")]


def test_the_start_command_answers_a_signed_message_on_a_redis_with_a_password(tmp_path, compose_redis):
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=compose_redis.port, retry=None).ping()
    # compose.yaml's REDIS_URL, with the test's password, pointed at the test's server.
    url = interpolate(compose()["services"]["app"]["environment"]["REDIS_URL"], {"REDIS_PASSWORD": PASSWORD})
    url = url.replace("@redis:6379/", f"@127.0.0.1:{compose_redis.port}/")
    prefix = f"test:{uuid.uuid4().hex}:"
    server = Gunicorn({"ENVIRONMENT": "production", "SECRET_KEY": SECRET_KEY, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "PUBLIC_BASE_URL": PUBLIC_URL, "REDIS_URL": url, "KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING",
                       "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE), "LANGUAGE_DIR": "", "DATA_DIR": str(tmp_path / "data"),
                       "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    # The Procfile's command itself, as the image's CMD runs it.
    server.command = ["/bin/sh", "-c", "exec " + procfile_command()]
    server.env["PORT"] = str(server.port)
    try:
        server.start()
        assert signed_post(server.url, "how much does it cost", f"SM{uuid.uuid4().hex}")[0].startswith("Costs")
        # The image's health check, run as Docker runs it.
        (health,) = [arguments for name, arguments in dockerfile() if name == "HEALTHCHECK"]
        check = json.loads(health[health.index("CMD") + 3:].strip())
        assert subprocess.run(check, env=server.env, timeout=10).returncode == 0
    finally:
        server.stop()
    store = Store(redis_for(Settings.from_env({}, REDIS_URL=url)), prefix=prefix)
    assert [m["role"] for m in store.transcript(PATIENT)] == ["patient", "assistant"]


def test_the_app_runs_as_an_acl_user_of_the_url_that_reaches_only_its_prefix(compose_redis, make_app, test_config):
    admin = redis.Redis(port=compose_redis.port, password=PASSWORD)
    prefix = test_config["KEY_PREFIX"]
    admin.acl_setuser("assistant", enabled=True, passwords=["+acl-pass-0123456789"], keys=[f"{prefix}*"],
                      commands=["+@all"])
    app = make_app(REDIS_URL=f"redis://assistant:acl-pass-0123456789@127.0.0.1:{compose_redis.port}/0")
    whatsapp = WhatsApp(app.test_client())
    # An answer, a question kept for operations, a chat queued: each script passes only keys under the prefix.
    assert whatsapp.send("how much does it cost")[0].startswith("Costs")
    assert whatsapp.send("quantum physics homework")[0].startswith("Sorry, I did not understand")
    assert whatsapp.send("agent")[0].startswith("A coordinator will")
    store = app.extensions["assistant"].store
    assert [m["role"] for m in store.transcript(PATIENT) if m["role"] != "event"] == ["patient", "assistant"] * 3
    assert [chat["sender"] for chat in store.waiting()] == [PATIENT] and len(store.unanswered()) == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        store.redis.get("another:key")


def openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True, timeout=30)


def certificate_authority(folder, name):
    """A CA of the test's own: {name}.key and {name}.crt in `folder`."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)


def signed_certificate(folder, ca, name, names="IP:127.0.0.1,DNS:localhost"):
    """{name}.key and {name}.crt signed by `ca`, for the addresses in `names`."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
    (folder / f"{name}.ext").write_text(f"subjectAltName={names}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=folder)


def test_a_tls_redis_is_reached_with_certificate_checks_and_an_untrusted_one_refused(tmp_path, servers):
    certificate_authority(tmp_path, "ca")
    certificate_authority(tmp_path, "stranger")
    signed_certificate(tmp_path, "ca", "server")
    signed_certificate(tmp_path, "ca", "elsewhere", names="DNS:redis.example.org")
    signed_certificate(tmp_path, "ca", "client", names="DNS:assistant")
    # TLS only, with a password, and only for clients with a certificate of the CA (mutual TLS).
    server = Server(tmp_path, "--port", "0", "--tls-port", str(port := free_port()), "--tls-cert-file", "server.crt",
                    "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "yes",
                    "--requirepass", PASSWORD)
    # Another, whose certificate names another host.
    other = Server(tmp_path, "--port", "0", "--tls-port", str(other_port := free_port()), "--tls-cert-file",
                   "elsewhere.crt", "--tls-key-file", "elsewhere.key", "--tls-ca-cert-file", "ca.crt",
                   "--tls-auth-clients", "no")
    servers += [server, other]
    client_files = f"ssl_certfile={tmp_path}/client.crt&ssl_keyfile={tmp_path}/client.key"

    def store(port, query):
        url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?{query}"
        return Store(redis_for(Settings.from_env({}, REDIS_URL=url, REDIS_TIMEOUT=2.0)), prefix=f"test:{uuid.uuid4().hex}:")

    trusted = store(port, f"ssl_ca_certs={tmp_path}/ca.crt&{client_files}")
    server.wait(trusted.redis)
    trusted.append(PATIENT, "patient", "hello over TLS")
    assert [m["text"] for m in trusted.transcript(PATIENT)] == ["hello over TLS"]
    trusted.redis.delete(trusted.key("transcript", PATIENT))
    # A server whose certificate no trusted CA signed (here, the system's CAs, or another one) is refused.
    for query in (client_files, f"ssl_ca_certs={tmp_path}/stranger.crt&{client_files}"):
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            store(port, query).ping()
    # So is a certificate of the right CA for another name: the name is checked (redis-py's default).
    other.wait(store(other_port, f"ssl_ca_certs={tmp_path}/ca.crt&ssl_check_hostname=false").redis)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed: IP address mismatch"):
        store(other_port, f"ssl_ca_certs={tmp_path}/ca.crt").ping()


def test_the_store_works_through_sentinel_and_follows_a_failover(tmp_path, servers):
    with pytest.raises(ConfigError, match="REDIS_SENTINELS: 'sentinel-1' should be a host and a port"):
        Settings.from_env({"REDIS_SENTINELS": "sentinel-1:26379, sentinel-1"})
    for folder in ("master", "replica", "sentinel"):
        (tmp_path / folder).mkdir()
    # No wait before the replica's first copy (Redis 7 waits 5 seconds for more replicas by default).
    master = Server(tmp_path / "master", "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--repl-diskless-sync-delay", "0")
    replica = Server(tmp_path / "replica", "--requirepass", PASSWORD, "--masterauth", PASSWORD,
                     "--replicaof", "127.0.0.1", str(master.port))
    servers += [master, replica]
    replica_info = redis.Redis(port=replica.port, password=PASSWORD, retry=None)
    replica.wait(replica_info)
    # The Sentinel learns of the replica from the master's first answer: start it once the replica is in place.
    wait_for(lambda: replica_info.info("replication")["master_link_status"] == "up", "the replica", 10)
    sentinel_port = free_port()
    conf = tmp_path / "sentinel" / "sentinel.conf"
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path / 'sentinel'}\n"
                    f"sentinel monitor assistant 127.0.0.1 {master.port} 1\n"
                    f"sentinel auth-pass assistant {PASSWORD}\nsentinel down-after-milliseconds assistant 1000\n"
                    "sentinel failover-timeout assistant 5000\nrequirepass sentinel-pass-0123\n")
    sentinel = subprocess.Popen([shutil.which("redis-server"), str(conf), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        settings = Settings.from_env({}, REDIS_URL=f"redis://:{PASSWORD}@assistant/0", REDIS_TIMEOUT=2.0,
                                     REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}", REDIS_SENTINEL_SERVICE="assistant",
                                     REDIS_SENTINEL_PASSWORD="sentinel-pass-0123")
        store = Store(redis_for(settings), prefix=f"test:{uuid.uuid4().hex}:")
        wait_for(lambda: _answers(store), "the master, through the Sentinel", 10)
        store.append(PATIENT, "patient", "before the failover")
        ask = redis.Redis(port=sentinel_port, password="sentinel-pass-0123", decode_responses=True)
        wait_for(lambda: replica_info.exists(store.key("transcript", PATIENT)), "the replica's copy", 10)
        # A replica can be promoted once the Sentinel has heard from it directly.
        wait_for(lambda: [r.get("master-link-status") for r in ask.sentinel_slaves("assistant")] == ["ok"],
                 "the Sentinel to know the replica", 10)
        ask.execute_command("SENTINEL", "FAILOVER", "assistant")
        wait_for(lambda: ask.sentinel_get_master_addr_by_name("assistant")[1] == replica.port, "the failover", 15)
        # The next connection asks the Sentinel again: the store writes to the new master.
        wait_for(lambda: _answers(store, writes=True), "a write to the new master", 15)
        store.append(PATIENT, "patient", "after the failover")
        assert [m["text"] for m in store.transcript(PATIENT)] == ["before the failover", "after the failover"]
        assert replica_info.info("replication")["role"] == "master"
    finally:
        sentinel.terminate()
        sentinel.wait(10)


def _answers(store, writes=False):
    try:
        return store.redis.set(f"{store.prefix}probe", 1, ex=5) if writes else store.ping()
    except (redis.ConnectionError, redis.ReadOnlyError, redis.TimeoutError):
        return False


def test_a_redis_cluster_is_refused_at_start(tmp_path, servers, test_config):
    # The cluster bus listens on a port of its own (by default the port + 10000, which may be taken or past 65535).
    server = Server(tmp_path, "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"),
                    "--cluster-port", str(free_port()))
    servers.append(server)
    url = f"redis://127.0.0.1:{server.port}/0"
    server.wait()
    with pytest.raises(ConfigError, match="Redis Cluster, which is not supported"):
        refuse_cluster(redis.Redis.from_url(url))
    with pytest.raises(ConfigError, match="Redis Cluster"):
        create_app({**test_config, "REDIS_URL": url})
