"""The server's web pages in a browser: API docs from local files, and a login for a keyed server.

FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a public CDN, so offline they are
blank; here their files come from the `fastapi-offline` package. A browser cannot send
`Authorization: Bearer` from a page, so a server with a key offers a login form that sets a
cookie the pages (and only the pages and the LangServe routes they call) accept.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import importlib.resources
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
LOGIN_PATH = "/login"
COOKIE = "longcepo_session"
PLAYGROUND = "/longcepo/playground/"
PAGE_PATHS = ("/docs", "/redoc", "/openapi.json", "/longcepo/")
"""Where the login cookie stands in for the bearer header: the pages and what they call.
The OpenAI-compatible routes (/v1) still need the header."""
LANDINGS = (PLAYGROUND, "/docs", "/redoc")


def session_token(key: str) -> str:
    """The cookie's value: derived from the key, so the key itself never sits in a browser."""
    return hmac.new(key.encode(), b"longcepo-browser-session", hashlib.sha256).hexdigest()


def cookie_token(cookie_header: str | None) -> str | None:
    """The session token in a `Cookie` header, if any."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:  # a malformed header is no session, not an error
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def is_page_path(path: str) -> bool:
    """Whether the login cookie counts for `path`."""
    return path.startswith(PAGE_PATHS)


def _landing(target: str | None) -> str:
    """Where to go after logging in: one of our pages, never another site."""
    return target if target in LANDINGS else PLAYGROUND


def _login_page(target: str, problem: str = "") -> str:
    note = f'<p role="alert" style="color:#b00">{html.escape(problem)}</p>' if problem else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>longcepo: log in</title>
<link rel="icon" href="data:,"></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
<h1>longcepo</h1>
<p>This server needs its key (<code>LONGCEPO_API_KEY</code>) before it shows the playground
and the API docs. It is kept in a cookie for this site only.</p>{note}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="next" value="{html.escape(target)}">
<label>Key <input type="password" name="key" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form></body></html>"""


def add_pages(app: FastAPI, api_key: str | None) -> None:
    """Local /docs and /redoc, their assets, and the login form (all before LangServe's routes)."""
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title}: API",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
                              with_google_fonts=False)

    @app.get(LOGIN_PATH, include_in_schema=False)
    async def login_form(next: str | None = None) -> Response:
        if not api_key:
            return RedirectResponse(_landing(next), status_code=303)
        return HTMLResponse(_login_page(_landing(next)))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("key") or [""])[0]
        target = _landing((form.get("next") or [""])[0])
        if not api_key:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            return HTMLResponse(_login_page(target, "That is not the server's key."),
                                status_code=401)
        reply = RedirectResponse(target, status_code=303)
        reply.set_cookie(COOKIE, session_token(api_key), httponly=True, samesite="strict",
                         path="/")
        return reply
