"""App-wide protections: security headers on every response, safe session cookies and their secret key."""

from flask.sessions import SecureCookieSessionInterface

# No inline script or style anywhere: pages load their code and styles from files of this app.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Patient conversations must not linger in browser or proxy caches; a page may allow caching itself.
    "Cache-Control": "no-store",
}


class Sessions(SecureCookieSessionInterface):
    """Flask's signed session cookies, with the signer built once per key instead of on every request."""

    _signer = (None, None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._signer[0] != keys:
            self._signer = (keys, super().get_signing_serializer(app))
        return self._signer[1]


def protect(app, settings, secret_key):
    """Give `app` its secret key, safe cookie flags and the security headers on every response."""
    app.session_interface = Sessions()
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
    )

    headers = {**HEADERS, **({"Strict-Transport-Security": "max-age=31536000; includeSubDomains"} if settings.production else {})}
    # Lower-cased once: werkzeug's setdefault raises and catches an exception for each header a response lacks.
    missing = [(name.lower(), name, value) for name, value in headers.items()]

    @app.after_request
    def add_headers(response):
        present = {name.lower() for name, _ in response.headers}
        for lower, name, value in missing:
            if lower not in present:
                response.headers.add(name, value)
        return response

