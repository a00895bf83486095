"""Secrets inside URLs, hidden before a URL is printed, logged, saved or sent to a client.

`http://user:secret@host/v1?api_key=...` carries credentials in its user part and its query
string; both become `***`, the rest (scheme, host, path) stays readable.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.I)


def redact_query(query: str) -> str:
    """A query string with the values of secret-looking parameters masked."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAM.search(name) for name, _ in pairs):
        return query
    return urlencode([(name, MASK if SECRET_PARAM.search(name) else value)
                      for name, value in pairs], safe="*")


def redact_url(url: str) -> str:
    """`url` with its user part and secret query values masked; text that is no URL as is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=redact_query(parts.query)))


def url_secrets(url: str | None) -> list[str]:
    """The secret pieces of `url` (user part, secret query values), longest first."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found += [userinfo, *userinfo.split(":", 1)]
    found += [value for name, value in parse_qsl(parts.query) if SECRET_PARAM.search(name)]
    return sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)


def has_secrets(url: str | None) -> bool:
    """Whether `url` carries credentials that must not be saved."""
    return bool(url) and redact_url(url or "") != url


def scrub(text: str, url: str | None) -> str:
    """`text` with every secret piece of `url` masked, wherever a message quoted it."""
    for secret in url_secrets(url):
        text = text.replace(secret, MASK)
    return text


class AccessLogRedactor(logging.Filter):
    """Masks secret query values in uvicorn's access log (`"GET /path?api_key=..."`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the request path argument; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) \
                and "?" in args[2]:
            path, _, query = args[2].partition("?")
            record.args = (*args[:2], f"{path}?{redact_query(query)}", *args[3:])
        return True
