"""The baseline for the webhook benchmark: a bare Flask endpoint that answers the same form with a fixed TwiML message."""

from flask import Flask, Response, request

app = Flask(__name__)
ANSWER = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thank you for your message.</Message></Response>'


@app.post("/whatsapp")
def receive():
    """Read the form as the real webhook must, then answer with fixed TwiML."""
    request.form.get("Body")
    return Response(ANSWER, mimetype="text/xml")
