"""Node functions of longcepo, one stage per module, plus the LLM door and protocols."""
