"""The matcher on CLINC150, an outside benchmark, through the same path as `python -m bot eval --knowledge`.

    .venv/bin/python bench/clinc.py            # about two minutes

CLINC150 (CLINC_DIR, by default /work/shared/clinc150; see its README): the script writes the minimal knowledge
(`intents: {ID: {phrases: [...]}}` from train.jsonl, `out_of_scope:` from oos_train.jsonl) to bench/results/,
loads it with bot.knowledge.engine (engine, model and judge learnt from it, no language resources), and chooses
on val.jsonl the bar on the judge's chance that gives the best in-scope accuracy (right intent and answered)
while rejecting at least --min-recall of the out-of-scope queries. A plain TF-IDF + logistic regression
(scikit-learn defaults, its probability as the bar) is trained and measured the same way in the same run. The
test split is kept elsewhere: nothing here is tuned on it.

It prints the operating points, a reliability table (chance band, answers, share right), the time to learn and to
match one message (p50, p99, one message at a time after a first pass), and the memory the knowledge took.
Not a test: nothing is asserted.
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import knowledge  # noqa: E402

CLINC = Path(os.environ.get("CLINC_DIR", "/work/shared/clinc150"))
RESULTS = ROOT / "bench" / "results"


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_knowledge(train, outside):
    """The minimal knowledge file of CLINC's training queries, as an editor of another clinic would write one."""
    intents = defaultdict(list)
    for row in train:
        intents[row["intent"]].append(row["text"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "clinc150-knowledge.yaml"
    data = {"intents": {intent: {"phrases": phrases} for intent, phrases in intents.items()},
            "out_of_scope": [row["text"] for row in outside]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def operating_point(answers, labels, min_recall):
    """(bar, in-scope accuracy, out-of-scope recall): the best accuracy among bars rejecting enough out-of-scope."""
    best = None
    for bar in sorted({round(score, 1) for _, score in answers} | {0.0, 100.1}):
        inside = [candidate == label and score >= bar for (candidate, score), label in zip(answers, labels) if label]
        outside = [score < bar for (_, score), label in zip(answers, labels) if not label]
        accuracy, recall = sum(inside) / len(inside), sum(outside) / len(outside)
        if recall >= min_recall and (best is None or accuracy > best[1]):
            best = (bar, accuracy, recall)
    return best


def reliability(answers, labels, width=10):
    """(band, answers, share right) of the in-scope queries by the score they got."""
    bands = defaultdict(list)
    for (candidate, score), label in zip(answers, labels):
        bands[min(int(score // width), 100 // width - 1)].append(candidate == label)
    return [(band * width, len(right), sum(right) / len(right)) for band, right in sorted(bands.items())]


def timed(function, texts):
    """p50 and p99 (ms) of function(text), one text at a time, after a first pass over them all."""
    for text in texts:
        function(text)
    times = []
    for text in texts:
        started = time.perf_counter()
        function(text)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def baseline(train, outside, val):
    """Plain TF-IDF + logistic regression: [(intent, probability 0-100)] for each val query."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectoriser = TfidfVectorizer()
    texts = [row["text"] for row in train]
    model = LogisticRegression(max_iter=2000).fit(vectoriser.fit_transform(texts), [row["intent"] for row in train])
    learnt = time.perf_counter() - started

    def predict(text):
        p = model.predict_proba(vectoriser.transform([text]))[0]
        best = p.argmax()
        return model.classes_[best], 100.0 * p[best]

    return [predict(row["text"]) for row in val], learnt, timed(predict, [row["text"] for row in val[:1000]])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-recall", type=float, default=0.55, help="out-of-scope recall the bar must reach on val")
    args = parser.parse_args()
    train, outside, val = lines(CLINC / "train.jsonl"), lines(CLINC / "oos_train.jsonl"), lines(CLINC / "val.jsonl")
    labels = [row["intent"] for row in val]
    path = write_knowledge(train, outside)

    before = psutil.Process().memory_info().rss
    started = time.perf_counter()
    engine = knowledge.engine(path)
    learnt = time.perf_counter() - started
    grown = (psutil.Process().memory_info().rss - before) / 2**20
    answers = [(m.candidate, m.score) for m in map(engine.match, (row["text"] for row in val))]
    at_default = [(m.intent, m.score) for m in map(engine.match, (row["text"] for row in val))]
    speed = timed(engine.match, [row["text"] for row in val[:1000]])
    base, base_learnt, base_speed = baseline(train, outside, val)

    print(f"CLINC150 val: {sum(map(bool, labels))} in-scope queries, {labels.count(None)} out-of-scope; "
          f"{len(train)} training phrases, {len(outside)} out-of-scope examples\n")
    print("| way | bar | in-scope accuracy | out-of-scope recall | learn s | match p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, found, seconds, (p50, p99) in (("the matcher (bot.knowledge.engine)", answers, learnt, speed),
                                             ("TF-IDF + logistic regression", base, base_learnt, base_speed)):
        point = operating_point(found, labels, args.min_recall)
        if point:
            bar, accuracy, recall = point
            print(f"| {name} | {bar:.1f} | {100 * accuracy:.1f}% | {100 * recall:.1f}% | {seconds:.1f} | "
                  f"{p50:.2f} / {p99:.2f} |")
    inside = [intent == label for (intent, _), label in zip(at_default, labels) if label]
    rejected = [intent is None for (intent, _), label in zip(at_default, labels) if not label]
    print(f"| the matcher at its own bar (ANSWER_AT) | – | {100 * sum(inside) / len(inside):.1f}% | "
          f"{100 * sum(rejected) / len(rejected):.1f}% | | |")
    print("\nreliability (in-scope queries of val, by the matcher's score):\n")
    print("| score | answers | share right |\n|---|---|---|")
    for band, count, right in reliability([a for a, label in zip(answers, labels) if label], [lab for lab in labels if lab]):
        print(f"| {band}-{band + 10} | {count} | {100 * right:.0f}% |")
    print(f"\nmemory: the process grew {grown:.0f} MB while learning the knowledge")


if __name__ == "__main__":
    main()
