"""The seeds' model layouts end to end with tiny stand-ins: a T5 with spiece.model and a LLaMA
with tokenizer.model, both with pickle weights only, tokenize Russian, answer, and train."""

import json

import pytest

from tests.conftest import one_line_error
from tests.published_models import build_published

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = "Мороз и солнце; день чудесный!"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    return {kind: build_published(kind, root / kind) for kind in ("t5", "llama", "gpt2")}


@pytest.mark.parametrize("kind", ["t5", "llama", "gpt2"])
def test_a_published_tokenizer_loads_and_keeps_cyrillic(published, kind):
    from adapters.base_model import open_tokenizer

    tokenizer = open_tokenizer(published[kind])
    ids = tokenizer(TEXT, add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == TEXT


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_a_published_model_answers_and_trains(run, published, kind, tmp_path, lira_home):
    code, out, err = run("--model", published[kind], "--device", "cpu", "ask", "Какая столица России?",
                         "--no-rag")
    assert code == 0, err
    assert "converting" in err and "pickle weights to safetensors" in err
    assert [p.name.split("-")[0] for p in (lira_home / "models" / "converted").iterdir()] == [kind]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": "Какая столица России?", "output": "Москва"},
                                         ensure_ascii=False) for _ in range(4)), encoding="utf-8")
    code, out, err = run("--device", "cpu", "train", "lora", "--base", published[kind], "--data", data,
                         "--name", f"{kind}-answers", "--max-steps", "2")
    assert code == 0, err
    adapter = lira_home / "adapters" / f"{kind}-answers"
    code, out, err = run("--model", published[kind], "--device", "cpu", "ask", "Какая столица России?",
                         "--no-rag", "--adapter", adapter, "--json")
    assert code == 0, err
    assert "converting" not in err  # converted once, on the first run


def test_a_model_folder_without_a_tokenizer_says_so(run, published, tmp_path):
    import shutil

    bare = tmp_path / "no-tokenizer"
    shutil.copytree(published["t5"], bare, ignore=shutil.ignore_patterns("spiece.model", "tokenizer_config.json"))
    line = one_line_error(*run("--model", bare, "--device", "cpu", "ask", "Вопрос?", "--no-rag")[::2])
    assert "tokenizer" in line


def test_a_missing_sentencepiece_package_is_named_as_the_cause(published, monkeypatch):
    import sys

    from adapters.base_model import open_tokenizer
    from adapters.errors import BaseModelError

    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import sentencepiece fails
    with pytest.raises(BaseModelError, match="needs the sentencepiece and protobuf packages"):
        open_tokenizer(published["llama"])


def test_a_published_gpt2_learns_poems_with_ia3_and_writes_one(run, published, tmp_path, lira_home):
    from tests.poems import POEMS

    data = tmp_path / "poems.jsonl"
    data.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in POEMS * 3), encoding="utf-8")
    code, out, err = run("--device", "cpu", "train", "ia3", "--base", published["gpt2"], "--data", data,
                         "--name", "poet-gpt2", "--max-steps", "2")
    assert code == 0, err
    assert "converting" in err  # two pickle shards, read safely and converted once
    manifest = json.loads((lira_home / "adapters" / "poet-gpt2" / "lira-adapter.json").read_text())
    assert manifest["data"]["format"] == "poems" and manifest["method"] == "ia3"
    code, out, err = run("--model", published["gpt2"], "--device", "cpu", "poem", "--author", "Пушкин",
                         "--title", "Осень", "--candidates", "1", "--max-new-tokens", "12", "--json")
    assert code == 0, err
    # adapter "auto": the newest own poem adapter for this base
    assert json.loads(out)["model"] == {"reference": str(published["gpt2"]), "adapter": "poet-gpt2"}


def test_seed_000_ia3_on_an_8bit_gpt2_writes_a_poem(run, published, tmp_path, lira_home):
    import logging

    from tests.poems import POEMS

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    data = tmp_path / "poems.jsonl"
    data.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in POEMS * 3), encoding="utf-8")
    code, out, err = run("--device", "cpu", "train", "ia3", "--base", published["gpt2"], "--data", data,
                         "--quantization", "8bit", "--name", "poet-8bit", "--max-steps", "1",
                         "--holdout-per-author", "1")
    assert code == 0, err
    manifest = json.loads((lira_home / "adapters" / "poet-8bit" / "lira-adapter.json").read_text())
    assert manifest["base"]["quantization"] == "8bit"
    code, out, err = run("--model", published["gpt2"], "--quantization", "8bit", "--device", "cpu", "poem",
                         "--author", "Пушкин", "--title", "Осень", "--candidates", "1", "--max-new-tokens",
                         "8", "--adapter", "poet-8bit", "--json")
    assert code == 0, err
    assert json.loads(out)["model"]["adapter"] == "poet-8bit"
    report_dir = tmp_path / "report"
    code, out, err = run("--model", published["gpt2"], "--quantization", "8bit", "--device", "cpu", "eval",
                         "poetry", "--corpus", data, "--adapter", lira_home / "adapters" / "poet-8bit",
                         "--search", "2", "--max-new-tokens", "8", "--out", report_dir, "--json")
    assert code == 0, err
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["setup"]["poem_model"] == str(published["gpt2"]) and report["search"]
