"""What the operations features cost, as ratios to a baseline measured in the same run.

- on the webhook's path: a message that gets the fallback (kept for operations, counted) against
  one that gets an answer (counted), and a sender's turn that counts its message, or counts it and
  keeps its question, against one that changes nothing (both are written as the turn ends);
- `python -m bot check` on the real responses.yaml against loading it (what every reload does);
- the unanswered page: reading and grouping the most questions kept (5,000) against matching the
  same texts once each.

Messages go through Assistant.respond on a real Redis (REDIS_URL, or an embedded one in a temporary
folder), with the real responses.yaml.

    .venv/bin/python -m bench.operations [--messages 300] [--redis redis://127.0.0.1:6379/0]
"""

import argparse
import random
import tempfile
import time
import uuid

from bot import build_assistant, checks, knowledge, unanswered
from bot.config import Settings
from bot.inbound import Inbound
from bot.store import UNANSWERED_LIMIT
from intents import HANDLERS

# Questions the knowledge does not cover, in a few shapes and many variants, like a busy month's.
SUBJECTS = ("parking at the hospital", "the visiting hours", "ashwagandha with il2", "a second opinion",
            "the report of my scan", "an appointment on sunday", "food for my father", "the hospital address")
SHAPES = ("can you tell me about {}", "what about {}?", "{} please", "i need to know about {}", "is there {}")


def best_of(runs, work):
    """The shortest of `runs` timings of `work()`, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def turn(store, sender, count=False, question=None):
    """Take the sender's turn and give it back, counting the message and keeping `question` as it ends when asked."""
    with store.lock(sender) as lock:
        if count:
            lock.conversation.count_message("costs")
        if question:
            lock.conversation.keep_unanswered(question)


def rate(assistant, text, senders):
    """Messages per second, each sender writing `text` once, best of three rounds."""
    rounds = iter(range(3))

    def send_all():
        round_ = next(rounds)
        for sender in senders:
            assistant.respond(Inbound(sender=f"{sender}-{round_}", body=text))
    return len(senders) / best_of(3, send_all)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--redis", default="")
    args = parser.parse_args()
    prefix = f"bench:{uuid.uuid4().hex}:"
    settings = Settings.from_env({}, REDIS_URL=args.redis, KEY_PREFIX=prefix, OFFICE_HOURS="", DATA_DIR=tempfile.mkdtemp())
    assistant = build_assistant(settings)
    store = assistant.store
    senders = [f"whatsapp:+9198{n:08d}" for n in range(args.messages)]
    try:
        answered = rate(assistant, "how much does it cost", senders)
        missed = rate(assistant, "is parking available at the hospital", [f"m{s}" for s in senders])

        # What the counts and a kept question add to the end of a turn, against a turn that changes nothing.
        calls = 1000
        bare = best_of(3, lambda: [turn(store, senders[n % len(senders)]) for n in range(calls)]) / calls
        counting = best_of(3, lambda: [turn(store, senders[n % len(senders)], count=True) for n in range(calls)]) / calls
        keeping = best_of(3, lambda: [turn(store, senders[n % len(senders)], count=True, question="is there parking")
                                      for n in range(calls)]) / calls

        path = settings.KNOWLEDGE_PATH
        load = best_of(3, lambda: knowledge.load(path, handled=HANDLERS))
        check = best_of(3, lambda: checks.run(path, settings, handled=HANDLERS))

        random.seed(6)
        texts = [random.choice(SHAPES).format(random.choice(SUBJECTS)) + random.choice(("", "?", " sir", " ji"))
                 for _ in range(UNANSWERED_LIMIT)]
        for n, text in enumerate(texts):
            turn(store, f"whatsapp:+9197{n % 400:08d}", question=text)
        current = assistant.knowledge_file.current()
        matching = best_of(3, lambda: [current.matcher.match(text) for text in texts])
        reading = best_of(3, store.unanswered)
        entries = store.unanswered()
        grouping = best_of(3, lambda: unanswered.groups(entries, current))
        found = unanswered.groups(entries, current)

        rows = [
            ("answered message (counted)", f"{answered:.0f} msg/s", 1.0),
            ("fallback (kept for operations, counted)", f"{missed:.0f} msg/s", missed / answered),
            ("a sender's turn, nothing changed", f"{bare * 1e6:.0f} us", 1.0),
            ("  counting its message", f"{counting * 1e6:.0f} us", counting / bare),
            ("  counting it and keeping its question", f"{keeping * 1e6:.0f} us", keeping / bare),
            ("loading responses.yaml (each reload)", f"{load * 1000:.0f} ms", 1.0),
            ("python -m bot check on it", f"{check * 1000:.0f} ms", check / load),
            (f"matching {len(texts)} kept questions once", f"{matching * 1000:.0f} ms", 1.0),
            ("reading them from Redis", f"{reading * 1000:.0f} ms", reading / matching),
            (f"grouping them ({len(found)} groups)", f"{grouping * 1000:.0f} ms", grouping / matching),
        ]
        print(f"Redis: {args.redis or 'embedded'}; {args.messages} messages x 3 rounds per kind")
        for label, value, ratio in rows:
            print(f"{label:42} {value:>11}  {ratio:5.2f}")
    finally:
        keys = list(store.redis.scan_iter(f"{prefix}*"))
        for start in range(0, len(keys), 500):
            store.redis.delete(*keys[start:start + 500])


if __name__ == "__main__":
    main()
