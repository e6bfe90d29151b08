"""Matching on our own messages: the learnt matcher beside its engine alone, its bar, its calibration, its cost.

    .venv/bin/python bench/matching.py          # about a minute

Loads responses.yaml (with safety.yaml) as the server does and reads the labelled sets as `python -m bot eval`
does (a sub-intent "x.y" counts as "x", null must be rejected, red flags first): bench/dev2.jsonl is the
validation set the bars were chosen on; /work/shared/eval/dev.jsonl (EVAL_DEV), bench/blind.jsonl and
tests/phrasebank.jsonl are reported beside it. Nothing here trains on them.

Prints, per set, in-scope accuracy and null rejection of the matcher (engine, model and judge) and of its
engine alone; on the validation set, the same at other bars on the judge's chance; a reliability table of the
answers given (chance band, answers, share right) over all the sets; the time to learn the knowledge and to
match one message (p50, p99), and the memory of a process before and after loading it. Not a test.
"""

import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETS = {"dev2 (validation)": ROOT / "bench" / "dev2.jsonl", "dev": Path(os.environ.get("EVAL_DEV", "/work/shared/eval/dev.jsonl")),
        "blind": ROOT / "bench" / "blind.jsonl", "phrasebank": ROOT / "tests" / "phrasebank.jsonl"}


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def right(expected, got):
    if expected is None:
        return got is None
    return got is not None and (got == expected or got.startswith(expected + "."))


def score(cases, answers):
    inside = [right(c["intent"], a) for c, a in zip(cases, answers) if c["intent"] is not None]
    null = [a is None for c, a in zip(cases, answers) if c["intent"] is None]
    return 100 * sum(inside) / len(inside), 100 * sum(null) / len(null)


def main():
    rss = psutil.Process().memory_info().rss
    from bot import knowledge
    from bot.matcher import EMERGENCY, Matcher

    imported = psutil.Process().memory_info().rss
    started = time.perf_counter()
    known = knowledge.load(ROOT / "responses.yaml")
    learnt = time.perf_counter() - started
    loaded = psutil.Process().memory_info().rss
    matcher = known.matcher
    engine = Matcher({i.id: i.phrases for i in known.intents.values()}, matcher.rules, learn=False)
    sets = {name: lines(path) for name, path in SETS.items() if path.exists()}

    def answers(decide, cases):
        return [EMERGENCY if known.safety.alarm(c["text"]) else decide(c["text"]) for c in cases]

    print("| set | matcher: in scope / null rejected | engine alone |\n|---|---|---|")
    matches = {}
    for name, cases in sets.items():
        matches[name] = [(known.safety.alarm(c["text"]), matcher.match(c["text"])) for c in cases]
        mine = score(cases, [EMERGENCY if alarm else m.intent for alarm, m in matches[name]])
        alone = score(cases, answers(lambda text: engine.match(text).intent, cases))
        print(f"| {name} | {mine[0]:.1f}% / {mine[1]:.1f}% | {alone[0]:.1f}% / {alone[1]:.1f}% |")

    validation = next(iter(sets))
    print(f"\nbars on {validation} (answered: chance at least the bar, and through the engine's gate, or the engine "
          "sure of the same topic):\n\n| bar | in scope | null rejected |\n|---|---|---|")
    cases = sets[validation]
    for bar in (30, 40, 50, 60, 70):
        decided = [EMERGENCY if alarm else matcher.match(c["text"], bar).intent
                   for c, (alarm, _) in zip(cases, matches[validation])]
        inside, null = score(cases, decided)
        print(f"| {bar} | {inside:.1f}% | {null:.1f}% |")

    bands = defaultdict(list)
    for name, cases in sets.items():
        for c, (alarm, m) in zip(cases, matches[name]):
            if not alarm and m.intent is not None:
                bands[min(int(m.score // 10), 9)].append(right(c["intent"], m.intent))
    print("\nreliability of the answers given, all sets:\n\n| score | answers | share right |\n|---|---|---|")
    for band, found in sorted(bands.items()):
        print(f"| {band * 10}-{band * 10 + 10} | {len(found)} | {100 * sum(found) / len(found):.0f}% |")

    texts = [c["text"] for cases in sets.values() for c in cases]
    for text in texts:
        matcher.match(text)
    times = []
    for text in texts:
        began = time.perf_counter()
        matcher.match(text)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    stats = matcher.model.stats
    print(f"\nlearn: {learnt:.1f} s for the whole knowledge ({stats.phrases} phrases, {stats.out_of_scope} out-of-scope "
          f"examples, {stats.features} features); match p50 {statistics.median(times):.2f} ms, "
          f"p99 {times[int(len(times) * 0.99)]:.2f} ms")
    print(f"memory: {rss / 2**20:.0f} MB at start, {imported / 2**20:.0f} MB with the app's modules, "
          f"{loaded / 2**20:.0f} MB with the knowledge learnt (weights {stats.weight_bytes / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
