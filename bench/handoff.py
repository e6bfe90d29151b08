"""What the handoff costs on the webhook's path, as ratios to a plain answer measured in the same run.

Messages go through Assistant.respond on a real Redis (REDIS_URL, or an embedded one in a temporary
folder), with the real responses.yaml. Alerts are only queued here, as in production: nothing is sent.

    .venv/bin/python -m bench.handoff [--messages 300] [--redis redis://127.0.0.1:6379/0]
"""

import argparse
import statistics
import tempfile
import threading
import time
import uuid

from bot import build_assistant
from bot.config import Settings
from bot.inbound import Inbound


def rate(assistant, texts, senders):
    """Messages per second over every (sender, text) pair, best of three rounds."""
    best = 0.0
    for round_ in range(3):
        started = time.perf_counter()
        for n, sender in enumerate(senders):
            assistant.respond(Inbound(sender=f"{sender}-{round_}", body=texts[n % len(texts)], profile_name="Bench"))
        best = max(best, len(senders) / (time.perf_counter() - started))
    return best


def claim_contention(store, coordinators, chats):
    """Median seconds for `coordinators` threads to race for one chat, and how many won each race."""
    times, winners = [], []
    for n in range(chats):
        sender = f"bench:race:{n}"
        # Queued as the patient's turn ends, as a request for a person is.
        with store.lock(sender) as lock:
            lock.conversation.escalate("asked")
        barrier, wins = threading.Barrier(coordinators + 1), []

        def press(name):
            barrier.wait()
            if store.claim(sender, name):
                wins.append(name)

        threads = [threading.Thread(target=press, args=(f"c{i}",)) for i in range(coordinators)]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        barrier.wait()
        for thread in threads:
            thread.join()
        times.append(time.perf_counter() - started)
        winners.append(len(wins))
    return statistics.median(times), winners


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--redis", default="")
    args = parser.parse_args()
    prefix = f"bench:{uuid.uuid4().hex}:"
    settings = Settings.from_env({}, REDIS_URL=args.redis, KEY_PREFIX=prefix, OFFICE_HOURS="", DATA_DIR=tempfile.mkdtemp(),
                                 ON_DUTY_NUMBERS="whatsapp:+910000000001,+910000000002")
    assistant = build_assistant(settings)
    store = assistant.store
    senders = [f"whatsapp:+9199{n:08d}" for n in range(args.messages)]
    try:
        baseline = rate(assistant, ["how much does it cost", "what are the side effects", "is it safe for my mother"], senders)
        escalation = rate(assistant, ["i want to talk to a person"], senders)
        # Every sender of the last round is now waiting: their next messages go to the transcript in silence.
        waiting = [s.rsplit("-", 1)[0] for s in senders]
        human = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for sender in waiting:
                assistant.respond(Inbound(sender=f"{sender}-2", body="are you there? please reply"))
            human = max(human, len(waiting) / (time.perf_counter() - started))
        emergency = rate(assistant, ["my father has chest pain after the drip"], [f"e{s}" for s in senders])
        queued = assistant.handoff.jobs.pending()
        race_seconds, winners = claim_contention(store, 16, 50)
        print(f"messages per mode: {args.messages} x 3 rounds, Redis: {args.redis or 'embedded'}")
        print(f"baseline (FAQ answer):        {baseline:8.0f} msg/s  1.00")
        print(f"asking for a person:          {escalation:8.0f} msg/s  {escalation / baseline:.2f}")
        print(f"waiting (silent, transcript): {human:8.0f} msg/s  {human / baseline:.2f}")
        print(f"emergency (reply + urgent):   {emergency:8.0f} msg/s  {emergency / baseline:.2f}")
        print(f"alert jobs queued, not sent:  {queued}")
        print(f"16 coordinators racing for one chat, 50 races: one winner each time: {set(winners) == {1}}; "
              f"median race {race_seconds * 1000:.1f} ms")
    finally:
        keys = list(store.redis.scan_iter(f"{prefix}*"))
        for start in range(0, len(keys), 500):
            store.redis.delete(*keys[start:start + 500])


if __name__ == "__main__":
    main()
