"""http(s) URLs, fetched with httpx under timeouts and the input cap.

The content type picks the reader; an unlabelled or generic type lets the bytes decide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longcepo.documents.limits import MAX_INPUT_BYTES, mib
from longcepo.nodes.errors import InputError, LongcepoError

if TYPE_CHECKING:
    import httpx  # imported by `fetch`: a run that reads only files never loads it (0.07 s)

CONNECT_S, READ_S = 10.0, 30.0
TIMEOUT: httpx.Timeout | None = None
"""When set, replaces the (connect, read) default for every fetch."""
MAX_REDIRECTS = 5
TYPES = {
    "application/pdf": "pdf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "zip",
    "text/plain": "text",
    "text/markdown": "text",
    "text/x-markdown": "text",
}
SNIFFED = ("", "application/octet-stream", "binary/octet-stream")
"""Types that say nothing of the format: the bytes decide."""


class FetchError(LongcepoError):
    """A URL could not be fetched: a timeout, a refused connection, a server error (exit 1)."""

    http_status = 502
    kind = "upstream_error"
    exit_code = 1


def kind_of(content_type: str, url: str) -> str | None:
    """The reader a content type asks for; None lets the bytes decide."""
    media = content_type.split(";")[0].strip().lower()
    if media in SNIFFED:
        return None
    if media in TYPES:
        return TYPES[media]
    if media.startswith("text/"):
        return "text"
    raise InputError(f"{url} serves {media}, which longcepo does not read; link to a PDF, "
                     "Word, HTML or text document")


def fetch(url: str, limit: int = MAX_INPUT_BYTES,
          timeout: httpx.Timeout | None = None) -> tuple[bytes, str | None, str | None]:
    """(body, reader kind or None, declared charset or None) of `url`.

    A body over `limit` is refused as it streams, before it is all in memory.
    """
    import httpx

    timeout = timeout or TIMEOUT or httpx.Timeout(READ_S, connect=CONNECT_S)
    try:
        with (httpx.Client(timeout=timeout, follow_redirects=True,
                           max_redirects=MAX_REDIRECTS) as client,
              client.stream("GET", url) as reply):
            if reply.status_code >= 500:
                raise FetchError(f"{url} answered {reply.status_code} "
                                 f"{reply.reason_phrase}; try again later")
            if reply.status_code >= 400:
                raise InputError(f"{url} answered {reply.status_code} {reply.reason_phrase}; "
                                 "check the address")
            kind = kind_of(reply.headers.get("content-type", ""), url)
            charset = reply.charset_encoding
            declared = reply.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise InputError(f"{url} is {mib(int(declared))}, over the {mib(limit)} input "
                                 "limit; pass a smaller document")
            parts, total = [], 0
            for block in reply.iter_bytes():
                total += len(block)
                if total > limit:
                    raise InputError(f"{url} is over the {mib(limit)} input limit; pass a "
                                     "smaller document")
                parts.append(block)
    except httpx.TimeoutException:
        raise FetchError(f"{url} timed out (connect {timeout.connect:g} s, read "
                         f"{timeout.read:g} s); check the address or try again") from None
    except httpx.TooManyRedirects:
        raise InputError(f"{url} redirects more than {MAX_REDIRECTS} times; pass the final "
                         "address") from None
    except httpx.InvalidURL as exc:
        raise InputError(f"{url} is not a valid URL ({exc})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {url}: {exc or type(exc).__name__}; check the address "
                         "and your network") from None
    return b"".join(parts), kind, charset
