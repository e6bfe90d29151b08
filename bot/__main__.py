"""The command line: python -m bot chat | match | eval."""

import argparse
import json
import sys
from collections import Counter, defaultdict

from bot import build_assistant, knowledge
from bot.assistant import Inbound
from bot.config import ConfigError, Settings


def chat(args, settings):
    """Talk to the assistant in the terminal, through the same Assistant.respond and store."""
    assistant = build_assistant(settings)
    print("Chatting as", args.sender, "- Ctrl-D to leave.")
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        for reply in assistant.respond(Inbound(sender=args.sender, body=text)):
            print(f"bot> {reply}\n")


def match(args, settings):
    """Print one JSON line per text: {"text", "intent", "score", "runner_up", "margin"}."""
    matcher = knowledge.load(settings.KNOWLEDGE_PATH).matcher
    texts = args.texts or (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        result = matcher.match(text)
        print(json.dumps({
            "text": text,
            "intent": result.intent,
            "score": result.score,
            "runner_up": result.runner_up,
            "margin": round(result.margin, 1),
        }, ensure_ascii=False), flush=True)
    return 0


def evaluate(args, settings):
    """Accuracy, rejection, recall per intent and kind, and confusions over a labelled JSONL file."""
    matcher = knowledge.load(settings.KNOWLEDGE_PATH).matcher
    with open(args.file, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    per_intent, per_kind, confusions = defaultdict(Counter), defaultdict(Counter), Counter()
    for case in cases:
        expected, got = case.get("intent"), matcher.match(case["text"]).intent
        right = got is None if expected is None else got is not None and (got == expected or got.startswith(expected + "."))
        per_intent[expected or "null"][right] += 1
        per_kind[case.get("kind", "?")][right] += 1
        if not right:
            confusions[(expected or "null", got or "null")] += 1

    def share(counter):
        total = counter[True] + counter[False]
        return counter[True] / total if total else 0.0

    in_scope = sum((c for i, c in per_intent.items() if i != "null"), Counter())
    accuracy, rejection = share(in_scope), share(per_intent["null"])
    print(f"in-scope accuracy: {accuracy:.1%} ({in_scope[True]}/{in_scope[True] + in_scope[False]})")
    print(f"null rejection:    {rejection:.1%} ({per_intent['null'][True]}/{sum(per_intent['null'].values())})")
    print("recall per kind:")
    for kind, counter in sorted(per_kind.items()):
        print(f"  {kind:22} {share(counter):6.1%}  ({counter[True]}/{counter[True] + counter[False]})")
    print("recall per intent:")
    for intent, counter in sorted(per_intent.items()):
        print(f"  {intent:22} {share(counter):6.1%}  ({counter[True]}/{counter[True] + counter[False]})")
    print("confusions (expected -> got):")
    for (expected, got), count in confusions.most_common():
        print(f"  {expected} -> {got}: {count}")
    failed = []
    if args.min_accuracy is not None and accuracy < _fraction(args.min_accuracy):
        failed.append(f"accuracy {accuracy:.1%} is below {_fraction(args.min_accuracy):.0%}")
    if args.min_rejection is not None and rejection < _fraction(args.min_rejection):
        failed.append(f"rejection {rejection:.1%} is below {_fraction(args.min_rejection):.0%}")
    for reason in failed:
        print("FAIL:", reason, file=sys.stderr)
    return 1 if failed else 0


def _fraction(value):
    """Accept 0.95 or 95 for the same bar."""
    return value / 100 if value > 1 else value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("chat", help="talk to the assistant in the terminal")
    p.add_argument("--sender", default="terminal:local", help="who you are to the assistant")
    p.set_defaults(run=chat)
    p = commands.add_parser("match", help="print the intent of each text (or each line of stdin) as JSON")
    p.add_argument("texts", nargs="*")
    p.set_defaults(run=match)
    p = commands.add_parser("eval", help="measure matching on a labelled JSONL file")
    p.add_argument("file")
    p.add_argument("--min-accuracy", type=float, help="exit 1 below this in-scope accuracy (0.95 or 95)")
    p.add_argument("--min-rejection", type=float, help="exit 1 below this null rejection (0.9 or 90)")
    p.set_defaults(run=evaluate)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.run(args, settings)
    except (ConfigError, knowledge.KnowledgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
