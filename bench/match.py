"""Match latency: our Matcher beside plain rapidfuzz extractOne(WRatio) over the same examples, in one process.

    .venv/bin/python bench/match.py [--times 50] [--queries 2000] [--sample 300] [--repeat 3]

Two knowledge sizes: the shipped responses.yaml, and its example phrases multiplied (each phrase turned
into N distinct variants: a letter swapped, a word dropped, a word of the same topic added). Queries are
our own labelled messages (tests/phrasebank.jsonl, bench/blind.jsonl) and misspelt variants of them,
each matched once on a freshly built matcher, so the spelling cache starts cold as after a deploy.
Prints the median over --repeat runs of p50/p99 in milliseconds, and the ratio of ours to the baseline.
Not a test: nothing is asserted. Takes about 6 minutes, mostly the baseline at the multiplied size.
"""

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from bot import knowledge  # noqa: E402
from bot.matcher import Matcher  # noqa: E402


def misspell(text, rng):
    """The text with one letter of one word swapped with its neighbour, as thumbs do."""
    words = text.split()
    long_words = [i for i, w in enumerate(words) if len(w) > 3]
    if not long_words:
        return text + "?"
    i = rng.choice(long_words)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def queries(count, rng):
    """Our own messages, then misspelt variants of them until there are `count` distinct texts."""
    texts = []
    for name in ("tests/phrasebank.jsonl", "bench/blind.jsonl", "bench/dev2.jsonl"):
        with open(ROOT / name, encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    seen, out = set(), []
    while len(out) < count:
        for text in texts:
            candidate = text if text not in seen else misspell(text, rng)
            if candidate not in seen:
                seen.add(candidate)
                out.append(candidate)
            if len(out) == count:
                break
    return out


def multiply(phrases_by_intent, times, rng):
    """Each phrase plus times-1 distinct variants of it."""
    out = {}
    for intent, phrases in phrases_by_intent.items():
        words = sorted({w for p in phrases for w in p.split()})
        grown = []
        for phrase in phrases:
            variants = {phrase}
            while len(variants) < times:
                parts = phrase.split()
                change = rng.randrange(3)
                if change == 0:
                    variant = misspell(phrase, rng)
                elif change == 1 and len(parts) > 2:
                    del parts[rng.randrange(len(parts))]
                    variant = " ".join(parts)
                else:
                    parts.insert(rng.randrange(len(parts) + 1), rng.choice(words))
                    variant = " ".join(parts)
                variants.add(variant)
            grown += sorted(variants)
        out[intent] = grown
    return out


def percentile(values, share):
    return statistics.quantiles(values, n=1000)[int(share * 1000) - 1] if len(values) > 1 else values[0]


def timed(function, texts):
    """Milliseconds per call, one call per text; the garbage collector waits, as timeit makes it."""
    out = []
    gc.collect()
    gc.disable()
    try:
        for text in texts:
            start = time.perf_counter_ns()
            function(text)
            out.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        gc.enable()
    return out


def run(label, phrases_by_intent, rules, texts, repeat):
    """Time ours (on a fresh matcher: cold spelling cache, then warm) and the baseline, `repeat` times each."""
    examples = [p for phrases in phrases_by_intent.values() for p in phrases]
    runs = {"Matcher.match (cold spelling)": [], "Matcher.match (warm)": [], "extractOne(WRatio) baseline": []}
    for _ in range(repeat):
        start = time.perf_counter()
        matcher = Matcher(phrases_by_intent, rules)
        build = time.perf_counter() - start
        runs["Matcher.match (cold spelling)"].append(timed(matcher.match, texts))
        runs["Matcher.match (warm)"].append(timed(matcher.match, texts))
        runs["extractOne(WRatio) baseline"].append(timed(lambda t: process.extractOne(t, examples, scorer=fuzz.WRatio), texts))
    print(f"\n{label}: {len(examples)} example phrases, {len(matcher.evidence)} features, built in {build:.2f} s; "
          f"{len(texts)} messages, median of {repeat} runs")
    print(f"  {'':34} {'p50 ms':>8} {'p99 ms':>8}")
    p99 = {}
    for name, timings in runs.items():
        p50 = statistics.median(percentile(values, 0.5) for values in timings)
        p99[name] = statistics.median(percentile(values, 0.99) for values in timings)
        print(f"  {name:34} {p50:8.3f} {p99[name]:8.3f}")
    base = p99["extractOne(WRatio) baseline"]
    print(f"  p99 ours / baseline: cold {p99['Matcher.match (cold spelling)'] / base:.3f}, "
          f"warm {p99['Matcher.match (warm)'] / base:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=50, help="how many variants of each example phrase")
    parser.add_argument("--queries", type=int, default=2000, help="how many distinct messages to match")
    parser.add_argument("--sample", type=int, default=300, help="how many of them to match at the multiplied size")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the median is printed")
    args = parser.parse_args()
    rng = random.Random(7)
    known = knowledge.load(ROOT / "responses.yaml")
    shipped = {i.id: list(i.phrases) for i in known.intents.values()}
    texts = queries(args.queries, rng)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")
    run("shipped knowledge", shipped, known.matcher.rules, texts, args.repeat)
    # The baseline takes a fifth of a second per message at this size: a sample of the messages is enough.
    run(f"examples x{args.times}", multiply(shipped, args.times, rng), known.matcher.rules, texts[:args.sample],
        args.repeat)


if __name__ == "__main__":
    main()
