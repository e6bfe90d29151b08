"""A local HTTP server standing in for api.twilio.com, so the real Twilio client makes real requests."""

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeTwilio:
    """Records every message the app sends; `refuse(code)` makes the next sends fail as Twilio would."""

    def __init__(self, account_sid, auth_token):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages = []
        self.failures = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll: shutdown waits for it, and every test with an app starts and stops this server.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def refuse(self, code, status=400, message="refused", times=1):
        """Answer the next `times` sends with Twilio error `code`."""
        self.failures += [(status, code, message)] * times

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if self.path != f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json":
                    return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if fake.failures:
                    status, code, message = fake.failures.pop(0)
                    return self._json(status, {"code": code, "message": message, "status": status})
                sid = f"SM{uuid.uuid4().hex}"
                fake.messages.append({"sid": sid, **form})
                self._json(201, {"sid": sid, "status": "queued", "to": form.get("To"), "from": form.get("From"),
                                 "body": form.get("Body"), "account_sid": fake.account_sid})

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
