"""Start-up of the `longcepo` process: two packages LangGraph imports but a CLI run never uses.

Importing a submodule runs its package's `__init__` first. LangSmith's run trees import one
type alias from `langsmith.types`, whose `__init__` builds about 200 pydantic models of
LangSmith's REST API (0.28 s of CPU); `langgraph.runtime` imports one class from
`langgraph_sdk.auth`, and `langgraph_sdk`'s `__init__` loads the whole SDK client with
websockets (0.15 s). Together they were a third of the CPU `longcepo ask` spent importing.

`pause_collection` stops Python's cyclic garbage collector while the process imports: the
imports allocate about a million long-lived objects, and each full collection walked them all
again (0.15 s of CPU per question, most of it during the map waves). `resume_collection`
freezes what is loaded by then (it is never garbage) and collects from there on.

`defer_package_inits` makes those two `__init__`s run on the first access to an attribute
the package does not have yet, instead of at import. Submodules still import as usual, and
any other use (tracing to LangSmith, the SDK client) loads the package whole on first touch,
so behaviour is unchanged; only the cost moves to the runs that need it. It is installed by
the `longcepo` script only (`cli.main.entry`), never by `import longcepo`.
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

DEFERRED = ("langsmith.types", "langgraph_sdk")


class _DeferredInit(importlib.abc.Loader):
    """Creates the package module and runs its `__init__` only when an attribute is missing."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader
        self.lock = threading.RLock()

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        def load_on_first_miss(name: str) -> Any:
            with self.lock:
                if module.__dict__.get("__getattr__") is load_on_first_miss:
                    del module.__dict__["__getattr__"]
                    self.loader.exec_module(module)
            return getattr(module, name)

        module.__dict__["__getattr__"] = load_on_first_miss


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            return None  # only packages: their submodules must stay importable
        spec.loader = _DeferredInit(spec.loader)
        return spec


def defer_package_inits(names: Sequence[str] = DEFERRED) -> None:
    """Defer the `__init__` of `names` (packages not imported yet) to their first real use."""
    pending = [n for n in names if n not in sys.modules]
    if pending and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(pending))


_paused = False


def pause_collection() -> None:
    """Stop cyclic garbage collection until `resume_collection`; the script's start only."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collection() -> None:
    """Freeze everything allocated so far and collect again; a no-op unless paused."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
