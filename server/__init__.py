"""HTTP serving: the FastAPI app with LangServe routes and an OpenAI-compatible route."""
