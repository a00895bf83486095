"""Running graphs durably: persistence, the Python API, served runs, prompt files, tracing."""
