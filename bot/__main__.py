"""The command line: python -m bot chat | match | eval | check | unanswered | coordinator add | remove NAME |
backup | restore FILE | erase SENDER."""

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections import Counter, defaultdict

from bot import build_assistant, checks, knowledge, redis_for, unanswered
from bot.config import ConfigError, Settings
from bot.inbound import Inbound
from bot.logs import configure
from bot.store import backup, refuse_cluster
from intents import HANDLERS


def chat(args, settings):
    """Talk to the assistant in the terminal, through the same Assistant.respond and store."""
    # The terminal shows text: choices never go out as buttons through Twilio from here.
    settings = dataclasses.replace(settings, QUICK_REPLY_SIDS="", LIST_PICKER_SIDS="")
    if not args.live:
        # A try-out of its own: no chat of it in the coordinators' queue, no alert to the on-duty numbers.
        settings = dataclasses.replace(settings, KEY_PREFIX=settings.KEY_PREFIX + "chat:", ON_DUTY_NUMBERS="")
    # Log lines go to a file: in the terminal they would read as part of the conversation.
    os.makedirs(settings.DATA_DIR, exist_ok=True)
    log_path = os.path.join(settings.DATA_DIR, "chat.log")
    configure(settings.LOG_LEVEL, log_path)
    assistant = build_assistant(settings)
    print("Chatting as", args.sender, "(live store)" if args.live else "(a store of its own; --live for the real one)",
          "- log in", log_path, "- Ctrl-D to leave.")
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
    known = _load(settings, args.knowledge, args.language)
    texts = args.texts or (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        result = known.match(text)
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
    known = _load(settings, args.knowledge, args.language)
    with open(args.file, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    per_intent, per_kind, confusions = defaultdict(Counter), defaultdict(Counter), Counter()
    asked, false_alarms = Counter(), 0
    for case in cases:
        expected, result = case.get("intent"), known.match(case["text"])
        got = result.intent
        right = got is None if expected is None else got is not None and (got == expected or got.startswith(expected + "."))
        per_intent[expected or "null"][right] += 1
        per_kind[case.get("kind", "?")][right] += 1
        if not right:
            confusions[(expected or "null", got or "null")] += 1
        if result.options(settings.CLARIFY_MARGIN):
            asked[right] += 1
        false_alarms += got == "emergency" and expected != "emergency"

    def share(counter):
        total = counter[True] + counter[False]
        return counter[True] / total if total else 0.0

    in_scope = sum((c for i, c in per_intent.items() if i != "null"), Counter())
    accuracy, rejection = share(in_scope), share(per_intent["null"])
    print(f"in-scope accuracy: {accuracy:.1%} ({in_scope[True]}/{in_scope[True] + in_scope[False]})")
    print(f"null rejection:    {rejection:.1%} ({per_intent['null'][True]}/{sum(per_intent['null'].values())})")
    emergency = per_intent.get("emergency", Counter())
    print(f"emergency recall:  {share(emergency):.1%} ({emergency[True]}/{sum(emergency.values())}), "
          f"false alarms: {false_alarms}")
    print(f"asked which topic: {sum(asked.values())} (top guess right {asked[True]}, wrong {asked[False]}; two topics "
          f"within {settings.CLARIFY_MARGIN} points or a strict topic's lead, or likely together)")
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


def check(args, settings):
    """Check a knowledge file (the live one by default) and its expectations; exit 1 when there are errors."""
    report = checks.run(args.path or settings.KNOWLEDGE_PATH, settings, args.expectations, HANDLERS)
    if report.knowledge:
        intents = report.knowledge.intents.values()
        print(f"{report.path}: {len(intents)} intents, {sum(len(i.phrases) for i in intents)} phrases")
    for finding in report.ordered():
        print(finding)
    print(report.summary())
    return 1 if report.errors else 0


def list_unanswered(args, settings):
    """The questions the assistant could not answer, grouped, with the nearest intent and YAML to paste."""
    assistant = build_assistant(settings)
    knowledge_now = assistant.knowledge_file.current()
    entries = assistant.store.unanswered()
    found = unanswered.groups(entries, knowledge_now)
    print(f"{len(entries)} unanswered question{'s' * (len(entries) != 1)} in the last {settings.RETENTION_DAYS} days, "
          f"{len(found)} group{'s' * (len(found) != 1)}")
    for number, group in enumerate(found[:args.limit], 1):
        nearest = f"nearest intent: {group.nearest} (score {group.score:.0f})" if group.nearest else "no intent comes near"
        now = f"; now answered as {group.answered_now}" if group.answered_now else ""
        print(f"\n{number}. {group.count}x, {nearest}{now}")
        for text in group.examples:
            print(f"   - {text}")
        if group.snippet:
            print("\n" + group.snippet, end="")
    return 0


MIN_PASSWORD = 10


def add_coordinator(args, settings):
    """Create a console account, or set a new password; the password is prompted, or read from standard input."""
    name = " ".join(args.name.split())
    if not name or len(name) > 60:
        print("error: give the coordinator's name (patients see its first word), at most 60 characters", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("The same password again: ") != password:
            print("error: the two passwords differ; nothing was changed", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        print(f"error: the password needs at least {MIN_PASSWORD} characters; nothing was changed", file=sys.stderr)
        return 2
    from bot.console import hash_password

    store = build_assistant(settings).store
    existed = store.coordinator(name) is not None
    store.add_coordinator(name, hash_password(password), ops=args.ops, clinician=args.clinician)
    account = store.coordinator(name)
    ops = "with" if account["ops"] else "without"
    clinician = ", a clinician: signs off medical replies" if account["clinician"] else ""
    print(f"{'updated' if existed else 'added'} coordinator {name} ({ops} the operations pages){clinician}: "
          "log in at /console/login")
    return 0


def remove_coordinator(args, settings):
    """Remove a console account; its sessions end at their next request."""
    name = " ".join(args.name.split())
    if not build_assistant(settings).store.remove_coordinator(name):
        print(f"error: there is no coordinator {name}", file=sys.stderr)
        return 1
    print(f"removed coordinator {name}: logged out everywhere")
    return 0


# Seconds a backup or a restore waits for one batch: longer than the app's REDIS_TIMEOUT, which is for patients.
BACKUP_TIMEOUT = 60


def take_backup(args, settings):
    """Write every key under KEY_PREFIX, with its expiry, to a file."""
    client = redis_for(settings, BACKUP_TIMEOUT, decode=False)
    refuse_cluster(client)
    count = backup.take(client, settings.KEY_PREFIX, args.file)
    print(f"backed up {count} keys under {settings.KEY_PREFIX} to {args.file}")
    return 0


def restore_backup(args, settings):
    """Restore a backup into an empty store (or, with --force, one emptied first), each key with its expiry."""
    client = redis_for(settings, BACKUP_TIMEOUT, decode=False)
    refuse_cluster(client)
    try:
        restored, expired = backup.restore(client, settings.KEY_PREFIX, args.file, force=args.force)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {restored} keys under {settings.KEY_PREFIX} from {args.file}"
          + (f"; {expired} had expired since the backup and stay gone" if expired else ""))
    return 0


def erase(args, settings):
    """Erase everything kept about the senders, as their own "delete my data" does (again, after a restore)."""
    assistant = build_assistant(settings)
    for sender in args.senders:
        with assistant.store.lock(sender) as lock:
            lock.conversation.erase()
        # As after the patient's own request: what was still to go to them goes too.
        assistant.handoff.turn_ended(sender, lock.conversation)
        print(f"erased everything kept about {sender}")
    return 0


def _load(settings, path=None, language=None):
    """The knowledge and red flags as the server loads them; with `path`, the matcher of any knowledge file there
    (read with the language files of the folder `language`, if given)."""
    if path:
        return knowledge.engine(path, settings.SAFETY_PATH, settings.safety_limits, language, settings.knowledge_max_bytes)
    return knowledge.load(settings.KNOWLEDGE_PATH, safety_path=settings.SAFETY_PATH, limits=settings.safety_limits,
                          language=settings.LANGUAGE_DIR, max_bytes=settings.knowledge_max_bytes)


def _fraction(value):
    """Accept 0.95 or 95 for the same bar."""
    return value / 100 if value > 1 else value


KNOWLEDGE_HELP = ("match with any knowledge file instead of the live one: intents: {ID: {phrases: [...]}} and an "
                  "optional out_of_scope: [...] are enough")
LANGUAGE_HELP = "with --knowledge: read its words with the language files of this folder (e.g. language)"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("chat", help="talk to the assistant in the terminal")
    p.add_argument("--sender", default="terminal:local", help="who you are to the assistant")
    p.add_argument("--live", action="store_true",
                   help="use the live store: a request for a person reaches the coordinators' queue and alerts them")
    p.set_defaults(run=chat)
    p = commands.add_parser("match", help="print the intent of each text (or each line of stdin) as JSON")
    p.add_argument("texts", nargs="*")
    p.add_argument("--knowledge", metavar="PATH", help=KNOWLEDGE_HELP)
    p.add_argument("--language", metavar="DIR", help=LANGUAGE_HELP)
    p.set_defaults(run=match)
    p = commands.add_parser("eval", help="measure matching on a labelled JSONL file")
    p.add_argument("file")
    p.add_argument("--knowledge", metavar="PATH", help=KNOWLEDGE_HELP)
    p.add_argument("--language", metavar="DIR", help=LANGUAGE_HELP)
    p.add_argument("--min-accuracy", type=float, help="exit 1 below this in-scope accuracy (0.95 or 95)")
    p.add_argument("--min-rejection", type=float, help="exit 1 below this null rejection (0.9 or 90)")
    p.set_defaults(run=evaluate)
    p = commands.add_parser("check", help="check the knowledge file and its expectations; exit 1 on errors")
    p.add_argument("path", nargs="?", help="the file to check (default: KNOWLEDGE_PATH, the live one)")
    p.add_argument("--expectations", help="phrases and the intent each must reach (default: expectations.yaml beside the file)")
    p.set_defaults(run=check)
    p = commands.add_parser("unanswered", help="list what patients asked that the assistant could not answer, grouped")
    p.add_argument("--limit", type=int, default=30, help="show at most this many groups (largest first)")
    p.set_defaults(run=list_unanswered)
    p = commands.add_parser("coordinator", help="manage the coordinators' console accounts")
    accounts = p.add_subparsers(dest="action", required=True)
    p = accounts.add_parser("add", help="add an account or set its password (prompted, or one line of stdin)")
    p.add_argument("name", help="the coordinator's name; patients see its first word, e.g. Priya")
    p.add_argument("--ops", action=argparse.BooleanOptionalAction, default=None,
                   help="--ops opens the operations pages (unanswered questions, activity, the knowledge file); "
                        "--no-ops closes them; without either the account keeps what it had")
    p.add_argument("--clinician", action=argparse.BooleanOptionalAction, default=None,
                   help="--clinician lets the account sign off medical replies in the console's content editor; "
                        "--no-clinician takes it away; without either the account keeps what it had")
    p.set_defaults(run=add_coordinator)
    p = accounts.add_parser("remove", help="remove an account; it is logged out everywhere")
    p.add_argument("name", help="the coordinator's name, as given to add")
    p.set_defaults(run=remove_coordinator)
    p = commands.add_parser("backup", help="write every key of the store (KEY_PREFIX), with its expiry, to FILE")
    p.add_argument("file", help="where to write it (gzip when it ends in .gz); readable by its owner only")
    p.set_defaults(run=take_backup)
    p = commands.add_parser("restore", help="restore a backup into an empty store; stop the app first")
    p.add_argument("file", help="a file written by the backup command")
    p.add_argument("--force", action="store_true", help="delete everything under KEY_PREFIX first, then restore")
    p.set_defaults(run=restore_backup)
    p = commands.add_parser("erase", help='erase everything kept about senders, as their "delete my data" does')
    p.add_argument("senders", nargs="+", metavar="SENDER", help="as Twilio gives it, e.g. whatsapp:+919812345678")
    p.set_defaults(run=erase)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.run(args, settings)
    except (ConfigError, knowledge.KnowledgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
