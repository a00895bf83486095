"""The FastAPI app of `longcepo serve`: LangServe at /longcepo, OpenAI routes at /v1.

The durable graph (SQLite or PostgreSQL) is opened in the app's lifespan; routes reach it
through `holder.graph`, so the app object can be built before the database is up.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langgraph.graph.state import CompiledStateGraph
from longcepo.env import default_state_dir
from longcepo.graph.main import build_graph
from longcepo.nodes.errors import LongcepoError, StateError
from longcepo.runtime.leases import Leases
from longcepo.runtime.persistence import SetupAborted, open_graph, open_leases
from longcepo.runtime.state_errors import state_error
from longcepo.runtime.tracing import bounded_tracing
from longcepo.server import langserve_routes, openai_api, pages
from longcepo.server.guards import (
    BearerAuth,
    BodyLimit,
    Check,
    RunGate,
    RunLimiter,
    error_payload,
    retry_headers,
)
from longcepo.server.settings import ServerSettings

log = logging.getLogger(__name__)
SCHEMA_HINT = "GET /longcepo/input_schema"


class GraphHolder:
    """The durable graph, set once the lifespan has opened its database."""

    def __init__(self) -> None:
        self._graph: CompiledStateGraph[Any, Any, Any, Any] | None = None
        self.leases: Leases | None = None
        """One run per thread, across every process sharing the state."""

    def __call__(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The graph; refused while the server starts or stops."""
        if self._graph is None:
            raise RuntimeError("the server is still starting; retry in a moment")
        return self._graph

    def set(self, graph: CompiledStateGraph[Any, Any, Any, Any] | None) -> None:
        """Install (or drop, at shutdown) the graph."""
        self._graph = graph


def validation_line(errors: Sequence[Any]) -> str:
    """Pydantic's error list as one line naming each bad field."""
    problems = []
    for error in list(errors)[:3]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "input"))
        problems.append(f"{loc or 'input'}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"bad request: {'; '.join(problems)}{more}; see the input schema at {SCHEMA_HINT}"


def _routes_to_check(settings: ServerSettings) -> Callable[[str], Check | None]:
    langserve_check = langserve_routes.request_check(settings)
    chat_check = openai_api.chat_check(settings)

    def pick(path: str) -> Check | None:
        if path == openai_api.CHAT_PATH:
            return chat_check
        if langserve_routes.is_run_path(path):
            return langserve_check
        return None

    return pick


def create_app(settings: ServerSettings, stopping: Callable[[], bool] = lambda: False) -> FastAPI:
    """The app: guards in front of every route, the graph opened in the lifespan.

    `stopping` says the server got SIGTERM, so a start waiting on the database gives up.
    """
    holder = GraphHolder()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.enter_context(bounded_tracing(settings.trace_flush_timeout))
            try:
                graph = await stack.enter_async_context(open_graph(
                    postgres_uri=settings.postgres_uri, state_dir=settings.state_dir,
                    stopping=stopping))
            except SetupAborted:
                graph = None
            if graph is None:
                log.warning("stopped while waiting for another replica's schema setup")
                yield
                return
            holder.leases = open_leases(postgres_uri=settings.postgres_uri,
                                        state_dir=settings.state_dir)
            holder.set(graph)
            try:
                yield
            finally:
                holder.set(None)

    app = FastAPI(title="longcepo", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="LongCePO: answers over documents of any length with a "
                              "small-window model. LangServe at /longcepo, OpenAI at /v1.")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness without authentication: whether the database is open."""
        return {"status": "ok" if holder._graph is not None else "starting",
                "persistence": "postgres" if settings.postgres_uri else "sqlite"}

    @app.exception_handler(LongcepoError)
    async def longcepo_error(request: Request, exc: LongcepoError) -> JSONResponse:
        return JSONResponse(error_payload(str(exc), exc.kind), status_code=exc.http_status,
                            headers=retry_headers(exc))

    @app.exception_handler(sqlite3.Error)
    async def broken_state(request: Request, exc: sqlite3.Error) -> JSONResponse:
        folder = settings.state_dir or default_state_dir()
        problem = state_error(exc, folder) or StateError(
            f"the run's state in {folder} failed: {exc}")
        log.error("%s", problem)
        return JSONResponse(error_payload(str(problem), problem.kind),
                            status_code=problem.http_status)

    @app.exception_handler(psycopg.Error)
    async def broken_database(request: Request, exc: psycopg.Error) -> JSONResponse:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        problem = StateError(f"the shared database failed ({reason}); nothing committed is "
                             "lost: send the same request with the same X-Thread-Id to resume")
        log.error("%s", problem)
        return JSONResponse(error_payload(str(problem), problem.kind),
                            status_code=problem.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # one line, like every other bad request, instead of pydantic's raw error list
        return JSONResponse(error_payload(validation_line(exc.errors()),
                                          "invalid_request_error"), status_code=400)

    pages.add_pages(app, settings.api_key)  # before LangServe's playground catches its paths
    langserve_routes.mount(app, settings, holder, build_graph(), leases=lambda: holder.leases)
    app.include_router(openai_api.router(settings, holder, leases=lambda: holder.leases))
    limiter = RunLimiter(settings.max_runs, settings.max_queue, settings.queue_timeout)
    app.state.limiter = limiter
    # the last added runs first: key, then body size, then checks and run slots
    app.add_middleware(RunGate, limiter=limiter, routes=_routes_to_check(settings))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(BearerAuth, key=settings.api_key)
    return app
