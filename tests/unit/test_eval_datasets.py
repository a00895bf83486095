"""Reading the shared data formats in place, trimming to gold passages, middle truncation."""

import gzip
import json
from pathlib import Path

import pytest
from longcepo.evaluation.datasets import load_dataset
from longcepo.evaluation.trim import split_passages, trim_item, truncate_middle
from longcepo.nodes.errors import InputError
from longcepo.nodes.tokens import count_tokens

from tests.eval_data import mc_rows, multihop_rows, write_jsonl_gz

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_multihop_format(tmp_path):
    path = write_jsonl_gz(tmp_path / "hotpot_small.jsonl.gz", multihop_rows(3))
    items = load_dataset(path)
    assert [i.item_id for i in items] == ["item-0", "item-1", "item-2"]
    item = items[0]
    assert item.dataset == "hotpot_small" and item.kind == "qa"
    assert item.query.startswith(item.question) and "short phrase" in item.query
    assert item.gold_titles == ("Record 0", "Record 1") and len(item.answers) == 1
    assert len(load_dataset(path, limit=2)) == 2


def test_multiple_choice_format_puts_options_in_the_query(tmp_path):
    path = write_jsonl_gz(tmp_path / "mc.jsonl.gz", mc_rows(1))
    (item,) = load_dataset(path)
    assert item.kind == "mc" and item.answers in (("A",), ("B",), ("C",), ("D",))
    for letter in "ABCD":
        assert f"({letter}) " in item.query
    assert item.query.rstrip().endswith("letter of the correct option.")


@pytest.mark.parametrize("content, message", [
    ('{"input": "q", "context": "c"}\n', "neither format"),
    ("not json\n", "not JSON"),
    ("", "holds no items"),
    ('{"question": "q", "choice_A": 1, "choice_B": 2, "choice_C": 3, "choice_D": 4, '
     '"answer": "E", "context": "c"}\n', "not one of A-D"),
])
def test_bad_rows_are_refused_with_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_dataset(path)


def test_missing_file_and_not_gzip(tmp_path):
    with pytest.raises(InputError, match="no such dataset"):
        load_dataset(tmp_path / "nope.jsonl.gz")
    fake = tmp_path / "x.jsonl.gz"
    fake.write_text("plain text")
    with pytest.raises(InputError, match="cannot read"):
        load_dataset(fake)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ data not beside the project")
@pytest.mark.parametrize("name, kind", [("hotpotqa_long_16k", "qa"), ("musique_long_16k", "qa"),
                                        ("longbench_v2_short_sample", "mc")])
def test_shared_files_read_in_place(name, kind):
    items = load_dataset(SHARED / f"{name}.jsonl.gz", limit=3)
    assert len(items) == 3 and all(i.kind == kind and i.context for i in items)
    if kind == "qa":
        passages = split_passages(items[0].context)
        titles = {p.title for p in passages}
        assert set(items[0].gold_titles) <= titles and len(passages) > 50


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ data not beside the project")
def test_trimming_real_items_keeps_every_gold_passage():
    for item in load_dataset(SHARED / "musique_long_16k.jsonl.gz", limit=5):
        trimmed = trim_item(item, 4000)
        size = count_tokens(trimmed.context)
        assert 3000 < size <= 4000, size
        titles = [p.title for p in split_passages(trimmed.context)]
        assert set(item.gold_titles) <= set(titles)
        assert trimmed.meta["passages"] == len(titles) < trimmed.meta["trimmed_from_passages"]


def test_trim_keeps_order_renumbers_and_is_repeatable(tmp_path):
    path = write_jsonl_gz(tmp_path / "d.jsonl.gz", multihop_rows(1, distractors=30))
    (item,) = load_dataset(path)
    original = [p.title for p in split_passages(item.context)]
    trimmed = trim_item(item, 700)
    kept = [p.title for p in split_passages(trimmed.context)]
    assert {"Record 0", "Record 1"} <= set(kept) and len(kept) < len(original)
    assert kept == [t for t in original if t in kept]  # original order
    assert trimmed.context.startswith("Passage 1:\n") and f"Passage {len(kept)}:\n" in trimmed.context
    assert count_tokens(trimmed.context) <= 700
    assert trim_item(item, 700).context == trimmed.context


def test_trim_refuses_a_set_without_passages(tmp_path):
    (item,) = load_dataset(write_jsonl_gz(tmp_path / "mc.jsonl.gz", mc_rows(1)))
    with pytest.raises(InputError, match="gold titles"):
        trim_item(item, 1000)


def test_truncate_middle_keeps_both_ends():
    text = "START " + "filler words here. " * 500 + " END"
    cut = truncate_middle(text, 100)
    assert cut.startswith("START") and cut.endswith("END")
    assert count_tokens(cut) <= 102
    assert truncate_middle("short", 100) == "short"


def test_gzip_and_plain_jsonl_read_the_same(tmp_path):
    rows = multihop_rows(2)
    gz = write_jsonl_gz(tmp_path / "a.jsonl.gz", rows)
    plain = tmp_path / "a.jsonl"
    with gzip.open(gz, "rt") as handle:
        plain.write_text(handle.read())
    assert [i.query for i in load_dataset(gz)] == [i.query for i in load_dataset(plain)]
    assert json.loads(plain.read_text().splitlines()[0])["_id"] == "item-0"
