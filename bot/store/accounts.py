"""Coordinators' console accounts, the slowing down of password guessing, and the key that signs the console's cookies."""

import json
import secrets


class Accounts:
    """Console accounts by login name (case-insensitive), and the failed logins counted per account and address."""

    def add_coordinator(self, name, password_hash, ops=None, clinician=None):
        """Create or update a console account, ending its sessions; `ops` opens the operations pages, `clinician` lets
        it sign off medical replies (None: each as it was)."""
        before = self.coordinator(name) or {}
        ops = before.get("ops", False) if ops is None else ops
        clinician = before.get("clinician", False) if clinician is None else clinician
        # A session is valid while its cookie carries the account's `session` value: a new one ends the others.
        account = {"name": name, "password": password_hash, "ops": bool(ops), "clinician": bool(clinician),
                   "session": secrets.token_hex(16)}
        self.redis.hset(self.keys.coordinators, name.lower(), json.dumps(account))

    def coordinator(self, name):
        """The account {name, password, ops, clinician, session} of that login name, or None."""
        raw = self.redis.hget(self.keys.coordinators, name.lower())
        return {"ops": False, "clinician": False, "session": "", **json.loads(raw)} if raw else None

    def end_sessions(self, name):
        """End every console session of the account; returns the value its next sessions carry (None: no account)."""
        key, field = self.keys.coordinators, name.lower()

        def renew(pipe):
            raw = pipe.hget(key, field)
            if raw is None:
                return None
            account = {**json.loads(raw), "session": secrets.token_hex(16)}
            pipe.multi()
            pipe.hset(key, field, json.dumps(account))
            return account["session"]

        # Watched, so that a password set meanwhile is never written over with the old one.
        return self.redis.transaction(renew, key, value_from_callable=True)

    def coordinator_names(self):
        """The names of every console account, alphabetically (whom a chat can be given to)."""
        return sorted((json.loads(raw)["name"] for raw in self.redis.hvals(self.keys.coordinators)), key=str.lower)

    def remove_coordinator(self, name):
        """Remove a console account (its sessions end with it); False when there was none."""
        return bool(self.redis.hdel(self.keys.coordinators, name.lower()))

    def try_login(self, name, address, limit, window_seconds):
        """Count a login as failed until it succeeds; False, counting nothing, once the account or address has `limit`."""
        keys = self.keys.failed_logins(name, address)
        return bool(self.scripts["login_try"](self.redis, keys, [limit, window_seconds]))

    def login_succeeded(self, name, address):
        """Take back the failure `try_login` counted: the password was right."""
        self.scripts["login_give_back"](self.redis, self.keys.failed_logins(name, address), [])

    def secret_key(self):
        """A random key made once and shared by every process, for signing the console's cookies."""
        self.redis.set(self.keys.secret_key, secrets.token_hex(32), nx=True)
        return self.redis.get(self.keys.secret_key)
