"""The graph under LangServe at `/longcepo`: invoke, batch, stream, stream_events, playground.

LangServe calls `ainvoke(input, config)` without LangGraph's `context=`, keeps only
`configurable` from the client's config and cannot serialize `Send`. `ServedGraph` turns
`configurable` into the run's `Context` (the server keeps the upstream and its key), gives
every run a thread id so it is checkpointed and resumable, and pre-ingests the documents.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import operator
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.runnables.utils import ConfigurableFieldSpec
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Overwrite, Send
from langserve import add_routes
from langserve.serialization import WellKnownLCSerializer
from longcepo.nodes.errors import LongcepoError
from longcepo.runtime.leases import Leases
from longcepo.runtime.runs import check_request, is_resume_request, run_to_end, stream_run
from longcepo.server.guards import RequestRejected, Scope
from longcepo.server.settings import THREAD_HEADER, ServerSettings, configurable_model, context_for
from longcepo.state import Context
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

PATH = "/longcepo"
RUN_ENDPOINTS = ("invoke", "batch", "stream", "stream_log", "stream_events")
GraphSource = Callable[[], CompiledStateGraph[Any, Any, Any, Any]]
LeaseSource = Callable[[], Leases | None]


def _plain(obj: Any) -> Any:
    """JSON for LangGraph's own objects in streamed events; unknown objects become text."""
    if isinstance(obj, Send):
        return {"send": obj.node, "arg": obj.arg}
    if isinstance(obj, Overwrite):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # shallow, so nested values (a Context inside a Runtime) come back here too
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
                if not (isinstance(obj, Context) and f.name == "api_key")}
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    return repr(obj)


class GraphSerializer(WellKnownLCSerializer):
    """LangServe's serializer, extended to `Send`, `Overwrite` and other LangGraph values.

    Dataclasses pass through `_plain` (orjson would write them whole), so a `Context` never
    carries its API key out.
    """

    def dumps(self, obj: Any) -> bytes:
        """JSON bytes of `obj`."""
        return orjson.dumps(obj, default=_plain, option=orjson.OPT_PASSTHROUGH_DATACLASS)


class ServedGraph(Runnable[dict[str, Any], dict[str, Any]]):
    """The main graph as LangServe sees it: config in, `Context` and a thread id out.

    Input and output schemas are the graph's; the config schema lists the run settings a
    client may change plus `thread_id`. `astream` yields progress events and then
    `{"event": "result", "output": ...}`.
    """

    name = "longcepo"

    def __init__(self, settings: ServerSettings, graph: GraphSource,
                 schema_graph: CompiledStateGraph[Any, Any, Any, Any],
                 leases: LeaseSource = lambda: None) -> None:
        self.settings, self._graph, self._schema = settings, graph, schema_graph
        self._leases = leases

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The graph's input: `context` and `query`, or `message`."""
        return self._schema.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The graph's output: answer, plan, provenance, usage, notes."""
        return self._schema.get_output_schema(config)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The run settings a client may change under `configurable`, and `thread_id`."""
        model = configurable_model(self.settings.context)
        return [ConfigurableFieldSpec(id=name, annotation=schema_without_null(f.annotation),
                                      name=name, description=f.description, default=None)
                for name, f in model.model_fields.items()]

    def _prepare(self, config: RunnableConfig | None) -> tuple[RunnableConfig, Context, str]:
        config = ensure_config(config)
        configurable = {k: v for k, v in (config.get("configurable") or {}).items()
                        if v is not None}
        thread_id = str(configurable.get("thread_id") or uuid.uuid4().hex)
        ctx = context_for(self.settings, configurable)
        passed = {k: v for k, v in config.items() if k != "configurable"}
        return passed, ctx, thread_id  # type: ignore[return-value]

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None,
                      **kwargs: Any) -> dict[str, Any]:
        """Run (or resume, or replay) the thread and return the graph's output."""
        passed, ctx, thread_id = self._prepare(config)
        return await run_to_end(self._graph(), ctx, input, thread_id, passed,
                                leases=self._leases())

    async def astream(self, input: dict[str, Any], config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """Progress events, then the result event."""
        passed, ctx, thread_id = self._prepare(config)
        async for event in stream_run(self._graph(), ctx, input, thread_id, passed,
                                      leases=self._leases()):
            yield event

    async def abatch(self, inputs: list[dict[str, Any]],
                     config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        """Run the inputs one after another: a batch holds one run slot.

        Inputs that share a thread id (one config for all) get `<id>-<i>` after the first.
        """
        configs = config if isinstance(config, list) else [config] * len(inputs)
        out: list[Any] = []
        seen: set[str] = set()
        for i, (item, conf) in enumerate(zip(inputs, configs, strict=True)):
            conf = ensure_config(conf)
            configurable = dict(conf.get("configurable") or {})
            if configurable.get("thread_id") in seen:
                configurable["thread_id"] = f"{configurable['thread_id']}-{i}"
            if configurable.get("thread_id"):
                seen.add(str(configurable["thread_id"]))
            try:
                out.append(await self.ainvoke(item, {**conf, "configurable": configurable}))
            except Exception as exc:
                if not return_exceptions:
                    raise
                out.append(exc)
        return out

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None,
               **kwargs: Any) -> dict[str, Any]:
        """Blocking `ainvoke`, for callers without an event loop."""
        return asyncio.run(self.ainvoke(input, config))

    def stream(self, input: dict[str, Any], config: RunnableConfig | None = None,
               **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Blocking `astream`: collects the events, then yields them."""
        async def collect() -> list[dict[str, Any]]:
            return [event async for event in self.astream(input, config)]

        yield from asyncio.run(collect())


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def schema_without_null(annotation: Any) -> Any:
    """`X | None` that still accepts None but whose JSON schema is plain `X`, with no default.

    The playground's form renderer throws on `anyOf: [X, {"type": "null"}]` and the page stays
    blank; every setting here is optional (None: the server default), so each had that branch.
    A `default: null` would then be flagged by its validator, so an empty field is left out.
    """
    kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if not kept or len(kept) == len(typing.get_args(annotation)):
        return annotation
    skip: Any = SkipJsonSchema  # a typing form at run time; mypy sees a class
    annotated: Any = typing.Annotated
    optional = functools.reduce(operator.or_, [*kept, skip[None]])
    return annotated[optional, Field(json_schema_extra=_no_default)]


def thread_from_header(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """`per_req_config_modifier`: a thread id from `X-Thread-Id` unless the config has one."""
    configurable = {k: v for k, v in (config.get("configurable") or {}).items() if v is not None}
    header = request.headers.get(THREAD_HEADER)
    if header and not configurable.get("thread_id"):
        configurable["thread_id"] = header
    return {**config, "configurable": configurable}


def mount(app: FastAPI, settings: ServerSettings, graph: GraphSource,
          schema_graph: CompiledStateGraph[Any, Any, Any, Any],
          leases: LeaseSource = lambda: None) -> None:
    """Add the LangServe routes for the graph at `/longcepo`."""
    add_routes(app, ServedGraph(settings, graph, schema_graph, leases), path=PATH,
               per_req_config_modifier=thread_from_header, serializer=GraphSerializer(),
               enable_feedback_endpoint=False, enable_public_trace_link_endpoint=False)


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, f"the request body is not valid JSON ({exc}); send "
                                   '{"input": {"context": ..., "query": ...}}') from None


def _check_one(settings: ServerSettings, item: Any, config: Any) -> None:
    if config is not None and not isinstance(config, Mapping):
        raise RequestRejected(400, "'config' must be an object")
    configurable = (config or {}).get("configurable") or {}
    if not isinstance(configurable, Mapping):
        raise RequestRejected(400, "'config.configurable' must be an object")
    if item is not None and not isinstance(item, Mapping):
        raise RequestRejected(400, "'input' must be an object: {\"context\": ..., \"query\": ...}"
                                   " or {\"message\": ...}")
    try:
        ctx = context_for(settings, {k: v for k, v in configurable.items() if v is not None})
        check_request(item, ctx)
    except LongcepoError as exc:
        raise RequestRejected(400, str(exc)) from None


def _check_resumable(scope: Scope, body: Mapping[str, Any]) -> None:
    """An empty input resumes a thread; without a thread id there is nothing to resume.

    The playground's Start on an empty form sends just that; answer 400 before a stream opens.
    """
    item, config = body.get("input"), body.get("config")
    if not isinstance(item, Mapping | None) or not is_resume_request(item):
        return
    configurable = (config or {}).get("configurable") if isinstance(config, Mapping) else None
    named = isinstance(configurable, Mapping) and configurable.get("thread_id")
    headers = {bytes(k).lower() for k, _ in scope.get("headers", [])}
    if not named and THREAD_HEADER.encode() not in headers:
        raise RequestRejected(400, "the input is empty: send 'context' and 'query' (or "
                                   "'message'), or a thread id to resume")


def request_check(settings: ServerSettings) -> Callable[[Scope, bytes], Any]:
    """The run gate's check for LangServe routes: JSON, settings and input, before any run."""

    async def check(scope: Scope, raw: bytes) -> None:
        body = _body(raw)
        if not isinstance(body, Mapping):
            raise RequestRejected(400, "the request body must be a JSON object")
        if not scope["path"].endswith("/batch"):
            _check_resumable(scope, body)
        if scope["path"].endswith("/batch"):
            inputs = body.get("inputs")
            if not isinstance(inputs, list):
                raise RequestRejected(400, "'inputs' must be a list of inputs")
            configs = body.get("config")
            per_item = configs if isinstance(configs, list) else [configs] * len(inputs)
            if len(per_item) != len(inputs):
                raise RequestRejected(400, "give one config, or one config per input")
            for item, config in zip(inputs, per_item, strict=True):
                _check_one(settings, item, config)
        else:
            _check_one(settings, body.get("input"), body.get("config"))

    return check


def is_run_path(path: str) -> bool:
    """Whether `path` is a LangServe route that starts a run (config-hash forms included)."""
    if not path.startswith(PATH + "/"):
        return False
    return path.rsplit("/", 1)[-1] in RUN_ENDPOINTS
