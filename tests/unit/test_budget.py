import dataclasses

import pytest
from longcepo.nodes.budget import fit_map, template_tokens, tokens, validate_context
from longcepo.nodes.errors import ConfigError
from longcepo.nodes.map import neighbor_window
from longcepo.state import Context


@pytest.mark.parametrize("n, local, before, after", [
    (0, 0, [], []), (0, 5, [], []), (0, 9, [], []),
    (1, 0, [], [1]), (1, 5, [4], [6]), (1, 9, [8], []),
    (5, 0, [], [1, 2, 3, 4, 5]), (5, 5, [0, 1, 2, 3, 4], [6, 7, 8, 9]),
    (5, 9, [4, 5, 6, 7, 8], []), (5, 2, [0, 1], [3, 4, 5, 6, 7]),
])
def test_neighbor_window_is_n_before_and_n_after_never_self(n, local, before, after):
    b, a = neighbor_window(local, 10, n)
    assert (b, a) == (before, after)
    assert local not in b + a


def test_neighbor_window_last_summary_is_reachable():
    assert 9 in neighbor_window(8, 10, 1)[1]
    assert 9 in neighbor_window(4, 10, 5)[1]


def _ctx(**kw):
    base = dict(base_url="http://x/v1", chunk_size=512, max_context_window=2048,
                max_output_tokens=200, max_output_tokens_summary=60)
    return Context(**{**base, **kw})


def test_fit_map_drops_farthest_summaries_first_then_oldest_history(caplog):
    ctx = _ctx()
    summary = "word " * 100  # ~100 tokens each
    before = [f"[chunk {i}] {summary}" for i in range(1, 6)]  # far -> near
    after = [f"[chunk {i}] {summary}" for i in range(7, 12)]  # near -> far
    history = [{"question": f"q{i}?", "answer": "a " * 60} for i in range(4)]
    fixed = template_tokens(ctx, "map", chunk="text " * 500, question="What?")
    fit = fit_map(ctx, fixed, before, after, history)
    assert fit.dropped_summaries > 0
    # the survivors are the nearest ones on each side
    assert fit.before == before[len(before) - len(fit.before):]
    assert fit.after == after[: len(fit.after)]
    assert abs(len(fit.before) - len(fit.after)) <= 1
    if fit.dropped_history:
        assert not fit.before and not fit.after, "history goes only after all summaries"
        assert fit.history == history[fit.dropped_history:]
    room = ctx.max_context_window - ctx.max_output_tokens - fixed
    used = sum(tokens(ctx, s) + 1 for s in fit.before + fit.after)
    assert used <= room


def test_fit_map_drops_history_oldest_first_when_summaries_are_gone():
    ctx = _ctx()
    history = [{"question": f"q{i}?", "answer": "word " * 150} for i in range(6)]
    fixed = template_tokens(ctx, "map", chunk="text " * 500, question="What?")
    fit = fit_map(ctx, fixed, ["[chunk 1] s"], [], history)
    assert fit.before == [] and fit.dropped_summaries == 1
    assert fit.dropped_history >= 1 and fit.history == history[fit.dropped_history:]


def test_fit_map_keeps_everything_when_it_fits():
    ctx = Context(base_url="http://x/v1")
    fit = fit_map(ctx, 1000, ["a"], ["b"], [{"question": "q", "answer": "a"}])
    assert (fit.before, fit.after, fit.dropped_summaries, fit.dropped_history) == (["a"], ["b"], 0, 0)


def test_defaults_are_the_reference_defaults_and_valid():
    ctx = Context(base_url="http://x/v1")
    validate_context(ctx)
    assert (ctx.chunk_size, ctx.max_context_window, ctx.max_output_tokens) == (4096, 8192, 1024)
    assert (ctx.max_output_tokens_summary, ctx.num_neighbor_summaries) == (300, 5)
    assert ctx.temperature_map == ctx.top_p == 0.7 and ctx.delimiter == "<CONTEXT_END>"
    assert (ctx.max_sub_questions, ctx.max_format_retries, ctx.max_concurrency) == (6, 3, 16)


@pytest.mark.parametrize("change, message", [
    ({"chunk_size": 7900}, "leaves no room"),
    ({"max_output_tokens": 3000}, "lower max_output_tokens"),
    ({"top_p": 0}, "top_p"),
    ({"temperature_map": 3}, "temperature_map"),
    ({"max_concurrency": 0}, "max_concurrency must be positive"),
    ({"num_neighbor_summaries": -1}, "must not be negative"),
    ({"tokenizer_encoding": "gpt2"}, "not available offline"),
    ({"map_prompt": "{chunk} {question}"}, "missing"),
    ({"reduce_prompt": "{findings} {qa_history} {question} {oops}"}, "unknown"),
    ({"plan_prompt": "{question"}, "not a valid format string"),
    ({"base_url": None, "api_key": None}, "no API key"),
])
def test_invalid_context_is_refused_with_a_fix(change, message):
    ctx = dataclasses.replace(Context(base_url="http://x/v1"), **change)
    with pytest.raises(ConfigError, match=message):
        validate_context(ctx)


def test_env_fills_defaults_but_explicit_wins(monkeypatch):
    monkeypatch.setenv("LONGCEPO_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    assert Context().model == "env-model" and Context().base_url == "http://env/v1"
    assert Context(model="mine").model == "mine"
    assert "sk-env-secret" not in repr(Context())


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_utf8_bytes_bound_every_token_count(encoding):
    from longcepo.nodes.budget import utf8_bytes
    from longcepo.nodes.tokens import count_tokens

    texts = ["", "hello world", "naïve café — déjà vu", "数据的长度", "🙂🙃 emoji 🧪" * 20,
             "\n\n\t  spaces  ", "a" * 5000, "".join(chr(c) for c in range(32, 3000))]
    for text in texts:
        assert count_tokens(text, encoding) <= utf8_bytes(text)


def test_a_context_that_passes_with_the_bound_passes_exactly(ctx):
    from longcepo.nodes.budget import utf8_bytes

    for window in range(600, 4000, 50):
        candidate = dataclasses.replace(ctx, max_context_window=window)
        try:
            validate_context(candidate, count=utf8_bytes)
        except ConfigError:
            continue
        validate_context(candidate)  # never raises once the bound passed
