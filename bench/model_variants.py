"""The learnt intent model (bot/model.py) on CLINC150 and on our own messages, beside simpler and older ways.

    .venv/bin/python bench/model_variants.py        # CLINC150: the model beside plain TF-IDF + logistic regression
    .venv/bin/python bench/model_variants.py --variants   # ... and the model's variants
    .venv/bin/python bench/model_variants.py --domain     # our messages: model variants, the engine, combinations

CLINC150 (/work/shared/clinc150, see its README): the model learns from train.jsonl, with oos_train.jsonl as
out-of-scope examples; the threshold is chosen on val.jsonl (the highest in-scope accuracy that rejects at
least --min-recall of its out-of-scope queries), and in-scope accuracy (right intent and answered) and
out-of-scope recall (not answered) are reported at that one threshold. The test split is kept elsewhere.

--domain: the model learns from responses.yaml's phrases (and the out-of-scope examples of language/), never
from the labelled files it is measured on: /work/shared/eval/dev.jsonl, bench/dev2.jsonl, bench/blind.jsonl,
tests/phrasebank.jsonl. They are scored as `python -m bot eval` does (a sub-intent "x.y" counts as "x", null
must be rejected); red flags go first as in the assistant, so the model never answers "emergency" itself.
The model's threshold there is its calibrated confidence (--domain-threshold, default 50: answered when more
likely right than wrong), not tuned on these files.

Not a test: nothing is asserted. Timings are per message, one call at a time, after the texts' first reading.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bot.model import IntentModel, Options, reading  # noqa: E402

CLINC = Path(os.environ.get("CLINC_DIR", "/work/shared/clinc150"))
DOMAIN_SETS = ("/work/shared/eval/dev.jsonl", "bench/dev2.jsonl", "bench/blind.jsonl", "tests/phrasebank.jsonl")
EMERGENCY = "emergency"
RECOMMENDED = "IntentModel.blend: engine or model (<30) rejects, mean picks"


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def percentiles(function, texts, repeat=3):
    """p50 and p99 in milliseconds of function(text), one text at a time: the median of `repeat` passes.

    The first pass reads each text for the first time (spelling caches cold); other work on the machine
    shows as outliers in one pass, hence the median of the passes.
    """
    passes = []
    for _ in range(repeat):
        gc.collect()
        took = []
        for text in texts:
            started = time.perf_counter()
            function(text)
            took.append(time.perf_counter() - started)
        took.sort()
        passes.append((1e3 * took[len(took) // 2], 1e3 * took[min(len(took) - 1, int(len(took) * 0.99))]))
    return statistics.median(p for p, _ in passes), statistics.median(p for _, p in passes)


# --- CLINC150 -------------------------------------------------------------------------------------------------


def clinc_data():
    train = lines(CLINC / "train.jsonl")
    by_intent = defaultdict(list)
    for row in train:
        by_intent[row["intent"]].append(row["text"])
    out_of_scope = [row["text"] for row in lines(CLINC / "oos_train.jsonl")]
    return dict(by_intent), out_of_scope, lines(CLINC / "val.jsonl")


def operating_point(candidates, confidences, labels, min_recall):
    """(threshold, in-scope accuracy, out-of-scope recall) at the threshold chosen on these labelled answers.

    `candidates` are the best intents (None: the model itself says "none"), `confidences` their scores.
    Chosen: the highest in-scope accuracy among the thresholds that leave at least `min_recall` of the
    out-of-scope queries unanswered.
    """
    candidates = np.array(candidates, dtype=object)
    confidences = np.asarray(confidences, dtype=float)
    labels = np.array(labels, dtype=object)
    inside = np.array([label is not None for label in labels])
    right = (candidates == labels) & inside
    named = np.array([c is not None for c in candidates])
    best = None
    for threshold in np.unique(np.concatenate([confidences, [np.inf]])):
        answered = named & (confidences >= threshold)
        accuracy = (right & answered)[inside].mean()
        recall = (~answered)[~inside].mean() if (~inside).any() else 1.0
        if recall >= min_recall and (best is None or accuracy > best[1]):
            best = (float(threshold), float(accuracy), float(recall))
    return best


def reliability(candidates, confidences, labels, width=10):
    """Rows (band, answers, share right, mean confidence) of the answers' confidences in bands of `width`."""
    rows = []
    confidences = np.asarray(confidences, dtype=float)
    right = np.array([c is not None and c == label for c, label in zip(candidates, labels)])
    for low in range(0, 100, width):
        band = (confidences >= low) & ((confidences < low + width) if low + width < 100 else (confidences <= 100))
        if band.any():
            rows.append((f"{low}-{low + width}", int(band.sum()), float(right[band].mean()), float(confidences[band].mean())))
    return rows


def expected_calibration_error(candidates, confidences, labels):
    rows = reliability(candidates, confidences, labels)
    total = sum(n for _, n, _, _ in rows)
    return sum(n * abs(share - mean / 100) for _, n, share, mean in rows) / total


def clinc_model(by_intent, out_of_scope, options, normaliser=None):
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    model = IntentModel(by_intent, out_of_scope, normaliser, options)
    seconds = time.perf_counter() - started
    gc.collect()
    return model, seconds, rss_mb() - before


def clinc_reader(by_intent, out_of_scope):
    """A normaliser reading CLINC's words as the matcher reads ours: endings folded, spelling corrected (no synonyms)."""
    from bot.reader import Reader

    texts = [text for phrases in by_intent.values() for text in phrases]
    return reading(Reader({}, (), texts, out_of_scope))


def measure_clinc_model(model, val, min_recall):
    texts = [row["text"] for row in val]
    labels = [row["intent"] for row in val]
    predictions = [model.predict(text, threshold=0.0) for text in texts]
    candidates = [p.intent for p in predictions]  # None where "none" is likelier than the best intent
    confidences = [p.confidence for p in predictions]
    point = operating_point(candidates, confidences, labels, min_recall)
    ece = expected_calibration_error([p.candidate for p in predictions], confidences, labels)
    return point, ece, predictions


def baseline(by_intent, out_of_scope, val, min_recall):
    """Plain TF-IDF (word unigrams) + logistic regression, the oos examples as one more class, through scikit-learn."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [t for phrases in by_intent.values() for t in phrases] + out_of_scope
    labels = [i for i, phrases in by_intent.items() for _ in phrases] + ["<none>"] * len(out_of_scope)
    started = time.perf_counter()
    vectoriser = TfidfVectorizer()
    classifier = LogisticRegression(max_iter=2000).fit(vectoriser.fit_transform(texts), labels)
    seconds = time.perf_counter() - started
    val_texts = [row["text"] for row in val]
    probabilities = classifier.predict_proba(vectoriser.transform(val_texts))
    classes = [None if c == "<none>" else c for c in classifier.classes_]
    candidates = [classes[k] for k in probabilities.argmax(axis=1)]
    confidences = 100 * probabilities.max(axis=1)
    point = operating_point(candidates, confidences, [row["intent"] for row in val], min_recall)
    timing = percentiles(lambda text: classifier.predict_proba(vectoriser.transform([text])), val_texts[:1000])
    return point, seconds, timing


def clinc(args):
    by_intent, out_of_scope, val = clinc_data()
    print(f"CLINC150: {len(by_intent)} intents, {sum(map(len, by_intent.values()))} phrases, "
          f"{len(out_of_scope)} out-of-scope examples; val {len(val)} "
          f"({sum(r['intent'] is None for r in val)} out of scope); threshold: best in-scope accuracy "
          f"with out-of-scope recall >= {args.min_recall:.0%}\n")
    point, base_seconds, base_timing = baseline(by_intent, out_of_scope, val, args.min_recall)
    rows = [("TF-IDF + logistic regression (sklearn)", point, base_seconds, base_timing, None, None)]
    model, seconds, grown = clinc_model(by_intent, out_of_scope, Options())
    point, ece, predictions = measure_clinc_model(model, val, args.min_recall)
    timing = percentiles(model.predict, [row["text"] for row in val][:1000])
    rows.append(("bot/model.py (defaults)", point, seconds, timing, ece, grown))
    print("| model | threshold | in-scope acc | oos recall | train s | p50 / p99 ms | ECE | RSS growth MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (threshold, accuracy, recall), train, (p50, p99), ece_, mb in rows:
        print(f"| {name} | {threshold:.1f} | {accuracy:.1%} | {recall:.1%} | {train:.1f} | {p50:.3f} / {p99:.3f} | "
              f"{'' if ece_ is None else f'{ece_:.3f}'} | {'' if mb is None else f'{mb:.0f}'} |")
    s = model.stats
    print(f"\nmodel: {s.features} features, weights {s.weight_bytes / 2**20:.1f} MB, vocabulary ~{s.vocabulary_bytes / 2**20:.1f} MB; "
          f"train {s.train_seconds:.1f} s + calibration {s.calibrate_seconds:.1f} s")
    labels = [row["intent"] for row in val]
    inside = [label is not None for label in labels]
    print("\nthe model at other thresholds (calibrated confidence):\n\n| threshold | in-scope acc | oos recall |\n|---|---|---|")
    for threshold in (20, 30, 40, 50, 60, 70, 80, 90):
        answered = [p.intent is not None and p.confidence >= threshold for p in predictions]
        accuracy = sum(a and p.intent == label for a, p, label, i in zip(answered, predictions, labels, inside) if i) / sum(inside)
        recall = sum(not a for a, i in zip(answered, inside) if not i) / max(1, len(inside) - sum(inside))
        print(f"| {threshold} | {accuracy:.1%} | {recall:.1%} |")
    print("\nreliability on val (every query's best intent and confidence; right = the labelled intent):")
    print("| confidence | answers | share right | mean confidence |\n|---|---|---|---|")
    for band, n, share, mean in reliability([p.candidate for p in predictions], [p.confidence for p in predictions], labels):
        print(f"| {band} | {n} | {share:.1%} | {mean:.1f} |")
    if args.variants:
        clinc_variants(by_intent, out_of_scope, val, args)


VARIANTS = {
    # name: (options, normaliser): the defaults, then one change at a time
    "defaults (svm, words 1-2 + chars 2-5, platt)": {},
    "reader normaliser (endings, spelling)": {"normaliser": "reader"},
    "words 1-2 only": {"char_ngrams": None},
    "chars 2-5 only": {"word_ngrams": None},
    "words 1-3 + chars 1-5": {"word_ngrams": (1, 3), "char_ngrams": (1, 5)},
    "chars of the normalised words": {"char_source": "normalised", "normaliser": "reader"},
    "chars weigh 0.7": {"char_weight": 0.7},
    "svm C=0.5": {"C": 0.5},
    "svm C=2": {"C": 2.0},
    "logistic C=20": {"classifier": "logistic", "C": 20.0},
    "sgd modified huber": {"classifier": "sgd"},
    "balanced class weights": {"balanced": True},
    "out-of-scope weigh 3": {"none_weight": 3.0},
    "no out-of-scope examples": {"no_oos": True},
    "calibration isotonic": {"calibration": "isotonic"},
    "calibration softmax only": {"calibration": "softmax"},
    "calibration 3 folds": {"folds": 3},
}
# Variants that change neither features nor classifier give the same answers: only their confidences are measured.
_CALIBRATION_ONLY = {"calibration", "folds"}


def variant(by_intent, out_of_scope, change, reader_factory):
    change = dict(change)
    normaliser = reader_factory() if change.pop("normaliser", None) == "reader" else None
    if change.pop("no_oos", False):
        out_of_scope = []
    return by_intent, out_of_scope, replace(Options(), **change), normaliser


def clinc_variants(by_intent, out_of_scope, val, args):
    print("\nvariants on CLINC val (one change from the defaults each):")
    print("| variant | threshold | in-scope acc | oos recall | ECE | train s | p99 ms |\n|---|---|---|---|---|---|---|")
    for name, change in VARIANTS.items():
        intents, oos, options, normaliser = variant(by_intent, out_of_scope, change,
                                                    lambda: clinc_reader(by_intent, out_of_scope))
        model, seconds, _ = clinc_model(intents, oos, options, normaliser)
        (threshold, accuracy, recall), ece, _ = measure_clinc_model(model, val, args.min_recall)
        _, p99 = percentiles(model.predict, [row["text"] for row in val][:1000])
        print(f"| {name} | {threshold:.1f} | {accuracy:.1%} | {recall:.1%} | {ece:.3f} | {seconds:.1f} | {p99:.3f} |",
              flush=True)


# --- our own messages -----------------------------------------------------------------------------------------


def domain_knowledge():
    from bot import knowledge

    known = knowledge.load(str(ROOT / "responses.yaml"))
    phrases = {intent_id: list(intent.phrases) for intent_id, intent in known.intents.items()}
    return known, phrases, list(known.matcher.rules.out_of_scope)


def alarm_of(known):
    """The red-flag check the assistant makes before any topic (its place has moved between versions)."""
    if hasattr(known, "safety"):
        return known.safety.alarm
    return known.matcher.emergency


def engine_match(known):
    return known.match if hasattr(known, "match") else known.matcher.match


def right(expected, got):
    if expected is None:
        return got is None
    return got is not None and (got == expected or got.startswith(expected + "."))


def score(cases, answers):
    """(in-scope accuracy, null rejection) of answers against the cases' labels."""
    inside = [right(c.intent, a) for c, a in zip(cases, answers) if c.intent is not None]
    null = [a is None for c, a in zip(cases, answers) if c.intent is None]
    return (sum(inside) / len(inside) if inside else 1.0), (sum(null) / len(null) if null else 1.0)


class Case:
    """One labelled message with everything each way of answering needs, computed once."""

    __slots__ = ("text", "intent", "alarm", "engine", "engine_scores", "engine_outside", "model", "model_scores", "model_outside",
                 "blend")


def engine_cases(known, sets):
    from bot import matcher as matcher_module

    alarm, match = alarm_of(known), engine_match(known)
    out = {}
    for name, rows in sets.items():
        cases = []
        for row in rows:
            case = Case()
            case.text, case.intent = row["text"], row["intent"]
            case.alarm = bool(alarm(row["text"]))
            case.engine = match(row["text"]).intent
            scores = dict(known.matcher.scores(row["text"]))
            case.engine_outside = scores.pop(None, 0.0)
            case.engine_scores = scores
            case.model = None
            cases.append(case)
        out[name] = cases
    return out, getattr(matcher_module, "OUTSIDE_BAR", 27.0), known.matcher.threshold


def combinations(outside_bar, engine_threshold, threshold):
    """Ways of answering from today's engine and the model together: name -> function(case) -> intent or None."""

    def model_only(case):
        if case.alarm:
            return EMERGENCY
        p = case.model  # predicted with threshold 0: intent is None only where "none" is likelier
        return p.intent if p.intent is not None and p.confidence >= threshold else None

    def engine(case):
        return case.engine

    def blended(case, how):
        if case.alarm:
            return EMERGENCY
        model = dict(case.model_scores)
        intents = [i for i in case.engine_scores if i != EMERGENCY and i in model]
        if not intents:
            return None
        if how == "mean":
            mixed = {i: (case.engine_scores[i] + model[i]) / 2 for i in intents}
        else:  # geometric mean, renormalised over the intents
            raw = {i: np.sqrt(max(case.engine_scores[i], 1e-9) * max(model[i], 1e-9)) for i in intents}
            total = sum(raw.values())
            mixed = {i: 100 * v / total for i, v in raw.items()}
        best = max(mixed, key=mixed.get)
        outside = (case.engine_outside + case.model_outside) / 2
        return best if mixed[best] >= threshold / 2 and outside < outside_bar else None

    def model_where_engine_unsure(case, sure=50.0):
        # Today's engine answers when it is sure (score >= `sure`); otherwise the model, which also may reject.
        if case.alarm:
            return EMERGENCY
        if case.engine is not None and case.engine_scores.get(case.engine, 0.0) >= sure:
            return case.engine
        return model_only(case) if case.engine_outside < outside_bar else None

    def engine_rejects_model_picks(case):
        # The engine decides whether to answer (its out-of-scope rules); the model which topic.
        if case.alarm:
            return EMERGENCY
        if case.engine is None:
            return None
        p = case.model
        return p.candidate if p.candidate is not None else case.engine

    def engine_rejects_mean_picks(case):
        # The engine decides whether to answer; the mean of both scores which topic.
        if case.alarm:
            return EMERGENCY
        if case.engine is None:
            return None
        model = dict(case.model_scores)
        intents = [i for i in case.engine_scores if i != EMERGENCY and i in model]
        return max(intents, key=lambda i: case.engine_scores[i] + model[i]) if intents else case.engine

    def engine_outside_model_answers(case):
        # Only the engine's out-of-scope test (other subjects, foreign words); the model answers or not by its confidence.
        if case.alarm:
            return EMERGENCY
        return model_only(case) if case.engine_outside < outside_bar else None

    def blend(case):
        # bot.model.IntentModel.blend: the engine (or the model, below VETO) rejects; the mean of both picks.
        if case.alarm:
            return EMERGENCY
        return case.blend.intent

    def either_rejects(case):
        # Answered only when both would answer; the model's topic.
        if case.alarm:
            return EMERGENCY
        p = case.model
        return p.candidate if case.engine is not None and model_only(case) is not None else None

    def agree_or_sure(case):
        # Both agree, or one of them is very sure (confidence >= 90) and the other does not reject.
        if case.alarm:
            return EMERGENCY
        mine = model_only(case)
        if case.engine is None or mine is None:
            return None
        if mine == case.engine or case.model.confidence >= 90:
            return mine
        return case.engine if case.engine_scores.get(case.engine, 0.0) >= 60 else None

    return {
        "today's engine": engine,
        "model alone": model_only,
        "mean of the two": lambda case: blended(case, "mean"),
        "product of the two": lambda case: blended(case, "product"),
        "model where engine unsure (<50)": model_where_engine_unsure,
        "engine rejects, model picks": engine_rejects_model_picks,
        "engine rejects, mean of the two picks": engine_rejects_mean_picks,
        "engine's outside test, then the model": engine_outside_model_answers,
        RECOMMENDED: blend,
        "answer only when both answer": either_rejects,
        "both answer, agree or one sure": agree_or_sure,
    }


DOMAIN_VARIANTS = {
    "defaults, reader normaliser": {"normaliser": "reader"},
    "defaults, fold only": {},
    "reader, words 1-2 only": {"normaliser": "reader", "char_ngrams": None},
    "reader, chars 2-5 only": {"normaliser": "reader", "word_ngrams": None},
    "reader, chars of normalised words": {"normaliser": "reader", "char_source": "normalised"},
    "reader, words 1-3 + chars 1-5": {"normaliser": "reader", "word_ngrams": (1, 3), "char_ngrams": (1, 5)},
    "reader, logistic C=20": {"normaliser": "reader", "classifier": "logistic", "C": 20.0},
    "reader, sgd": {"normaliser": "reader", "classifier": "sgd"},
    "reader, balanced": {"normaliser": "reader", "balanced": True},
    "reader, out-of-scope weigh 2": {"normaliser": "reader", "none_weight": 2.0},
    "reader, no out-of-scope examples": {"normaliser": "reader", "no_oos": True},
    "reader, isotonic": {"normaliser": "reader", "calibration": "isotonic"},
}


def predict_all(model, cases):
    for rows in cases.values():
        for case in rows:
            case.model = model.predict(case.text, threshold=0.0, exclude=(EMERGENCY,))
            ranked = model.scores(case.text)
            case.model_outside = next((s for i, s in ranked if i is None), 0.0)
            case.model_scores = [(i, s) for i, s in ranked if i is not None]
            case.blend = model.blend(case.text, case.engine_scores, case.engine is not None, exclude=(EMERGENCY,))


def domain(args):
    known, phrases, out_of_scope = domain_knowledge()
    sets = {Path(path).stem if "shared" not in path else "dev": lines(ROOT / path if not path.startswith("/") else path)
            for path in DOMAIN_SETS}
    print(f"responses.yaml: {len(phrases)} intents, {sum(map(len, phrases.values()))} phrases, "
          f"{len(out_of_scope)} out-of-scope examples; model threshold {args.domain_threshold:g} "
          f"(calibrated confidence)\n")
    cases, outside_bar, engine_threshold = engine_cases(known, sets)
    names = list(sets)
    header = " | ".join(f"{n} in / null" for n in names)
    variants = DOMAIN_VARIANTS if args.variants else {k: v for k, v in DOMAIN_VARIANTS.items() if k.startswith("defaults")}
    chosen, rows_alone, rows_blend = None, [], []
    for name, change in variants.items():
        intents, oos, options, normaliser = variant(phrases, out_of_scope, change, lambda: reading(known.matcher.reader))
        model = IntentModel(intents, oos, normaliser, options)
        predict_all(model, cases)
        ways = combinations(outside_bar, engine_threshold, args.domain_threshold)
        for way, rows in ((ways["model alone"], rows_alone), (ways[RECOMMENDED], rows_blend)):
            cells = " | ".join("{:.1%} / {:.1%}".format(*score(group, [way(c) for c in group])) for group in cases.values())
            rows.append(f"| {name} | {cells} |")
        if chosen is None:
            chosen = (name, model, normaliser)
    for title, rows in (("the model alone", rows_alone), ("the model blended with today's engine (IntentModel.blend)", rows_blend)):
        print(f"variants of {title}:\n")
        print(f"| variant | {header} |\n|---|" + "---|" * len(names))
        print("\n".join(rows) + "\n")
    name, model, _ = chosen
    predict_all(model, cases)
    print(f"\ncombinations of today's engine and the model ({name}):\n")
    print(f"| way | {header} |\n|---|" + "---|" * len(names))
    for way_name, way in combinations(outside_bar, engine_threshold, args.domain_threshold).items():
        cells = " | ".join("{:.1%} / {:.1%}".format(*score(rows, [way(c) for c in rows])) for rows in cases.values())
        print(f"| {way_name} | {cells} |", flush=True)

    print(f"\nmodel alone ({name}) at other thresholds:\n")
    print(f"| threshold | {header} |\n|---|" + "---|" * len(names))
    for threshold in (30, 40, 50, 60, 70, 80):
        way = combinations(outside_bar, engine_threshold, threshold)["model alone"]
        cells = " | ".join("{:.1%} / {:.1%}".format(*score(rows, [way(c) for c in rows])) for rows in cases.values())
        print(f"| {threshold} | {cells} |")

    all_cases = [c for rows in cases.values() for c in rows if c.intent != EMERGENCY and not c.alarm]
    print("\nreliability of the model's confidence on these sets (emergencies left out; right = labelled intent):")
    print("| confidence | answers | share right | mean confidence |\n|---|---|---|---|")
    candidates = [c.model.candidate for c in all_cases]
    labels = [c.intent.split(".")[0] if c.intent else None for c in all_cases]
    confidences = [c.model.confidence for c in all_cases]
    for band, n, share, mean in reliability([x.split(".")[0] if x else x for x in candidates], confidences, labels):
        print(f"| {band} | {n} | {share:.1%} | {mean:.1f} |")

    texts = [c.text for rows in cases.values() for c in rows]
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    fresh = IntentModel(phrases, out_of_scope, reading(known.matcher.reader), model.options)
    seconds = time.perf_counter() - started
    gc.collect()
    grown = rss_mb() - before
    s = fresh.stats
    p50, p99 = percentiles(lambda text: fresh.predict(text, exclude=(EMERGENCY,)), texts)
    engine_p = percentiles(known.matcher.match, texts)

    def both(text):  # the engine's scores once (what match() computes), then the blend
        return fresh.blend(text, dict(known.matcher.scores(text)), True, exclude=(EMERGENCY,))

    both_p = percentiles(both, texts)
    print(f"\nspeed: model predict p50 {p50:.3f} ms, p99 {p99:.3f} ms (today's matcher.match p50 {engine_p[0]:.3f}, "
          f"p99 {engine_p[1]:.3f}; engine scores + blend p50 {both_p[0]:.3f}, p99 {both_p[1]:.3f}); train {seconds:.2f} s (fit {s.train_seconds:.2f} + calibration "
          f"{s.calibrate_seconds:.2f}); {s.features} features, weights {s.weight_bytes / 2**20:.1f} MB, "
          f"RSS growth {grown:.0f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", action="store_true", help="also measure the model's variants")
    parser.add_argument("--domain", action="store_true", help="our own messages instead of CLINC150")
    parser.add_argument("--min-recall", type=float, default=0.55, help="out-of-scope recall the CLINC threshold must reach")
    parser.add_argument("--domain-threshold", type=float, default=50.0, help="the model's confidence bar on our messages")
    args = parser.parse_args()
    if args.domain:
        domain(args)
    else:
        clinc(args)


if __name__ == "__main__":
    main()
