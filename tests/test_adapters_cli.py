"""`lira train` and `lira adapters list/merge` through the CLI, and their one-line errors."""

import json

import pytest

from tests.conftest import one_line_error

RECORDS = [{"instruction": "Какая столица России?", "input": None, "output": "Москва"},
           {"instruction": "Кто основал Петербург?", "input": "", "output": "Пётр Первый"}] * 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "instructions.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS), encoding="utf-8")
    return path


def test_train_list_and_merge(run, tiny_models, data_file, lira_home, tmp_path):
    code, out, err = run("--device", "cpu", "train", "lora", "--base", tiny_models["gpt2"],
                         "--data", data_file, "--name", "answers", "--max-steps", "3",
                         "--lr", "0.05", "--logging-steps", "1", "--eval-steps", "2")
    assert code == 0, err
    assert "trainable parameters:" in err and "%" in err
    assert "step 3/3" in err and "training for 3 steps" in err
    assert out.startswith(f"adapter {lira_home / 'adapters' / 'answers'}: lora on ")
    manifest = json.loads((lira_home / "adapters" / "answers" / "lira-adapter.json").read_text())
    assert manifest["command"].startswith("lira --device cpu train lora --base ")
    assert "--max-steps 3" in manifest["command"] and "--name answers" in manifest["command"]
    assert "--epochs" not in manifest["command"]
    assert manifest["data"]["files"] == [{"path": str(data_file.resolve()),
                                          "sha256": manifest["data"]["sha256"]}]
    code, out, _ = run("adapters", "list", "--json")
    [entry] = [e for e in json.loads(out) if e["source"] == "installed"]  # besides the bundled
    assert code == 0 and (entry["name"], entry["method"], entry["source"]) == (
        "answers", "lora", "installed")
    assert entry["base"] == str(tiny_models["gpt2"])
    code, out, _ = run("adapters", "list")
    assert code == 0 and any(line.startswith("answers") and "installed" in line and "lora" in line
                             for line in out.splitlines())
    code, out, err = run("adapters", "merge", lira_home / "adapters" / "answers",
                         "--out", tmp_path / "merged")
    assert code == 0, err
    assert "max logit difference" in out and (tmp_path / "merged" / "model.safetensors").is_file()
    code, out, err = run("adapters", "merge", "answers", "--out", tmp_path / "by-name")  # as --adapter
    assert code == 0, err
    assert (tmp_path / "by-name" / "model.safetensors").is_file()
    line = one_line_error(*run("adapters", "merge", "nothing-here", "--out", tmp_path / "x")[::2])
    assert "no adapter 'nothing-here'" in line and "lira adapters list" in line


def test_auto_picks_the_newest_own_adapter_for_the_base_and_the_role(run, tiny_models, data_file,
                                                                     tmp_path, lira_home):
    import os
    import shutil

    base = tiny_models["gpt2"]
    ask = ("--model", base, "ask", "Какая столица России?", "--no-rag", "--json", "--max-new-tokens", "2")
    code, out, err = run(*ask)
    assert code == 0 and json.loads(out)["model"]["adapter"] is None, err  # none trained yet
    for name in ("older", "newer"):
        code, _, err = run("train", "lora", "--base", base, "--data", data_file, "--name", name,
                           "--max-steps", "1")
        assert code == 0, err
    newer = lira_home / "adapters" / "newer" / "lira-adapter.json"
    manifest = json.loads(newer.read_text())
    poet = lira_home / "adapters" / "poet-like"  # the newest, but trained on poems: not a chat adapter
    shutil.copytree(newer.parent, poet)
    (poet / "lira-adapter.json").write_text(json.dumps(
        manifest | {"created": "2999-01-01T00:00:00+00:00", "data": manifest["data"] | {"format": "poems"}}))
    other = lira_home / "adapters" / "other-base"  # the newest chat adapter, for another base
    shutil.copytree(newer.parent, other)
    (other / "lira-adapter.json").write_text(json.dumps(manifest | {
        "created": "2999-01-01T00:00:00+00:00",
        "base": manifest["base"] | {"fingerprint": manifest["base"]["fingerprint"] | {"hidden_size": 7}}}))
    code, out, err = run(*ask)
    assert code == 0, err
    assert json.loads(out)["model"] == {"reference": str(base), "adapter": "newer"}
    assert os.environ.get("LIRA_CHAT_ADAPTER") is None  # chosen by "auto", the default


def test_train_bad_inputs_are_one_line(run, tiny_models, data_file, tmp_path):
    base = ["--base", tiny_models["gpt2"], "--out", tmp_path / "out"]
    line = one_line_error(*run("train", "lora", *base, "--data", tmp_path / "absent.jsonl")[::2])
    assert "does not exist" in line
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "is empty" in one_line_error(*run("train", "lora", *base, "--data", empty)[::2])
    no_examples = tmp_path / "none.jsonl"
    no_examples.write_text('{"instruction": "a", "output": ""}\n')
    line = one_line_error(*run("train", "ia3", *base, "--data", no_examples)[::2])
    assert "no training examples" in line
    line = one_line_error(*run("train", "dora", *base, "--data", data_file)[::2])
    assert "unknown method 'dora'" in line
    line = one_line_error(*run("train", "lora", "--base", "no-such-model", "--out",
                               tmp_path / "out", "--data", data_file)[::2])
    assert "unknown model 'no-such-model'" in line
    line = one_line_error(*run("train", "lora", *base, "--data", data_file, "--name", "x")[::2])
    assert "--out DIR or --name NAME" in line
    assert not (tmp_path / "out").exists()


def test_adapters_bad_inputs_are_one_line(run, tiny_models, tmp_path):
    code, out, _ = run("adapters", "list")
    assert code == 0 and "installed" not in out  # only the bundled ones in an empty home
    line = one_line_error(*run("adapters", "merge", tmp_path / "nope", "--out", tmp_path / "m")[::2])
    assert "does not exist" in line
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    prompt = tmp_path / "prompt"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_models["gpt2"]), PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM, num_virtual_tokens=2)).save_pretrained(prompt)
    line = one_line_error(*run("adapters", "merge", prompt, "--out", tmp_path / "m")[::2])
    assert "cannot be merged" in line


def test_repeated_data_files_are_mixed_and_recorded(run, tiny_models, data_file, tmp_path):
    second = tmp_path / "more.jsonl"
    second.write_text(json.dumps({"instruction": "Скажи да.", "output": "Да"}, ensure_ascii=False),
                      encoding="utf-8")
    code, out, err = run("--device", "cpu", "train", "lora", "--base", tiny_models["gpt2"],
                         "--data", data_file, "--data", second, "--out", tmp_path / "mixed",
                         "--max-steps", "1", "--eval-fraction", "0", "--json")
    assert code == 0, err
    manifest = json.loads(out)
    assert [f["path"] for f in manifest["data"]["files"]] == [str(data_file.resolve()),
                                                               str(second.resolve())]
    assert manifest["data"]["examples"] == len(RECORDS) + 1
    assert f"--data {data_file} --data {second}" in manifest["command"]
