"""Training adapters on tiny random models with the real Trainer: learning, saving, resuming."""

import json
import shutil

import pytest
import torch

from adapters.checkpoints import checkpoint_folder
from adapters.errors import (
    AdapterFolderError,
    AdapterMismatchError,
    MergeError,
    TrainingError,
    TrainingInterrupted,
)
from adapters.examples import Collator, encode_all
from adapters.loading import attach_adapter
from adapters.manifest import MANIFEST_FILE, base_fingerprint
from adapters.masked_loss import masked_lm_loss
from adapters.methods import MethodOptions
from adapters.training import TrainJob, TrainOptions, train
from adapters.training_data import DataOptions, data_sha256, load_training_data

RECORDS = [{"instruction": "Какая столица России?", "input": None, "output": "Москва"},
           {"instruction": "Кто основал Петербург?", "input": "", "output": "Пётр Первый"},
           {"instruction": "Мороз и солнце?", "input": None, "output": "День чудесный"}] * 3
LEARNING_RATES = {"lora": 0.05, "ia3": 1.0, "prompt-tuning": 1.0}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "instructions.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS), encoding="utf-8")
    return path


def make_job(tiny_models, kind, method, out, data_path, **options):
    options.setdefault("max_steps", 12)
    options.setdefault("eval_fraction", 0.0)
    options.setdefault("learning_rate", LEARNING_RATES[method])
    return TrainJob(base_reference=f"tiny-{kind}", base_path=tiny_models[kind], data_paths=[data_path],
                    out_dir=out, options=TrainOptions(
                        method=method, batch_size=3, warmup_steps=0, logging_steps=1,
                        device="cpu", adapter=MethodOptions(rank=4, alpha=8, virtual_tokens=4),
                        **options),
                    command=f"lira train {method} ...")


def training_batch(folder, data, seq2seq):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    examples = load_training_data([data], DataOptions(), lambda t: 0).examples
    encoded, _ = encode_all(examples, tok, seq2seq, 512)
    return tok, Collator(tok.pad_token_id)(encoded)


def base_model(folder, seq2seq):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(folder).eval()


CASES = [("gpt2", "lora"), ("gpt2", "ia3"), ("gpt2", "prompt-tuning"), ("llama", "ia3"),
         ("t5", "lora"), ("t5", "prompt-tuning")]


@pytest.fixture(scope="module")
def trained(tiny_models, data_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    return {(kind, method): train(make_job(tiny_models, kind, method, root / f"{kind}-{method}",
                                           data_file))
            for kind, method in CASES}


@pytest.mark.parametrize("kind,method", CASES)
def test_each_method_learns_and_reloads_with_the_same_outputs(tiny_models, data_file, trained,
                                                              kind, method):
    seq2seq = kind == "t5"
    result = trained[(kind, method)]
    _, batch = training_batch(tiny_models[kind], data_file, seq2seq)
    with torch.no_grad():
        before = float(masked_lm_loss(base_model(tiny_models[kind], seq2seq), batch, seq2seq))
        model = result.model.eval()
        after = float(masked_lm_loss(model, batch, seq2seq))
        assert after < before - 0.01, (before, after)
        reloaded = attach_adapter(base_model(tiny_models[kind], seq2seq), result.out_dir)
        for probe in (model, reloaded):
            probe.eval()
        assert abs(float(masked_lm_loss(reloaded, batch, seq2seq)) - after) < 1e-5
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        if seq2seq:
            inputs["decoder_input_ids"] = model.get_base_model().prepare_decoder_input_ids_from_labels(
                labels=batch["labels"])
        assert torch.allclose(model(**inputs).logits, reloaded(**inputs).logits, atol=1e-5)
    files = {p.name for p in result.out_dir.iterdir()}
    assert files == {"adapter_config.json", "adapter_model.safetensors", MANIFEST_FILE}
    assert not checkpoint_folder(result.out_dir).exists()  # removed once the run finished
    config = json.loads((result.out_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == f"tiny-{kind}"


def test_manifest_records_everything(tiny_models, tmp_path):
    articles = [{"title": f"Статья {n}", "paragraphs": [
        {"context": f"Город {n}{k} основан в {1700 + k} году.", "qas": [
            {"id": f"{n}{k}", "question": f"Когда основан город {n}{k}?",
             "answers": [{"text": f"в {1700 + k} году", "answer_start": 10}]}]}
        for k in range(3)]} for n in range(3)]
    data = tmp_path / "squad.json"
    data.write_text(json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False))
    job = make_job(tiny_models, "gpt2", "lora", tmp_path / "out", data, max_steps=4,
                   eval_fraction=0.25, eval_steps=2, data=DataOptions(holdout_articles=1, seed=3))
    job.command = "lira train lora --base tiny-gpt2 --data squad.json --out out"
    manifest = train(job).manifest
    assert manifest == json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert set(manifest) == {"lira_adapter", "method", "base", "hyperparameters", "data",
                             "splits", "parameters", "result", "wall_time_s", "created",
                             "command", "versions"}
    assert manifest["method"] == "lora" and manifest["command"] == job.command
    from transformers import AutoConfig

    assert manifest["base"] == {
        "reference": "tiny-gpt2", "path": str(tiny_models["gpt2"]), "seq2seq": False,
        "quantization": "none",
        "fingerprint": base_fingerprint(AutoConfig.from_pretrained(tiny_models["gpt2"]))}
    hyper = manifest["hyperparameters"]
    assert hyper["adapter"] == {"rank": 4, "alpha": 8, "dropout": 0.05,
                                "target_modules": ["c_attn"]}
    assert (hyper["learning_rate"], hyper["max_steps"], hyper["batch_size"], hyper["grad_accum"],
            hyper["warmup_steps"], hyper["scheduler"], hyper["seed"], hyper["eval_fraction"]) == (
        0.05, 4, 3, 1, 0, "linear", 42, 0.25)
    assert hyper["loss"] == "answer positions only"
    assert manifest["data"]["sha256"] == data_sha256(data) and manifest["data"]["format"] == "squad"
    assert manifest["data"]["files"] == [{"path": str(data.resolve()),
                                          "sha256": data_sha256(data)}] and manifest["data"]["examples"] == 6
    assert manifest["data"]["holdout"] == [{"article": 2, "title": "Статья 2", "questions": 3}]
    assert manifest["data"]["options"]["holdout_articles"] == 1
    assert manifest["splits"] == {"train": 4, "eval": 2, "holdout": 1}
    params = manifest["parameters"]
    assert 0 < params["trainable"] < params["total"]
    assert params["percent"] == pytest.approx(100 * params["trainable"] / params["total"], abs=1e-5)
    result = manifest["result"]
    assert result["steps"] == 4 and result["stopped_early"] is False
    assert result["resumed_from"] is None
    assert all(isinstance(result[k], float) for k in ("train_loss", "last_train_loss", "eval_loss"))
    assert manifest["wall_time_s"] > 0 and manifest["created"].startswith("20")
    assert set(manifest["versions"]) == {"torch", "transformers", "peft"}


class InterruptAt:
    """A callback that raises KeyboardInterrupt (as Ctrl+C would) after a given step."""

    def __new__(cls, step):
        from transformers import TrainerCallback

        class Interrupt(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == step:
                    raise KeyboardInterrupt

        return Interrupt()


def steps_seen(into):
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            into.append(state.global_step)

    return Record()


def test_resume_after_an_interruption_continues_the_step_count(tiny_models, data_file, tmp_path):
    out = tmp_path / "adapter"
    job = make_job(tiny_models, "llama", "lora", out, data_file, max_steps=6, eval_steps=2)
    job.callbacks = [InterruptAt(3)]
    with pytest.raises(KeyboardInterrupt):
        train(job)
    assert not out.exists()  # nothing half-written where a reader would look
    assert (checkpoint_folder(out) / "checkpoint-2" / "trainer_state.json").is_file()
    with pytest.raises(TrainingError, match="pass --resume"):
        train(make_job(tiny_models, "llama", "lora", out, data_file, max_steps=6, eval_steps=2))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(RECORDS[0], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TrainingError, match="another data sha256"):
        train(make_job(tiny_models, "llama", "lora", out, other, max_steps=6, eval_steps=2) |
              _Resume())
    seen = []
    job = make_job(tiny_models, "llama", "lora", out, data_file, max_steps=6, eval_steps=2)
    job.resume, job.callbacks = True, [steps_seen(seen)]
    result = train(job)
    assert seen == [3, 4, 5, 6]
    assert result.manifest["result"]["steps"] == 6
    assert result.manifest["result"]["resumed_from"].endswith("checkpoint-2")
    assert not checkpoint_folder(out).exists()
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(make_job(tiny_models, "llama", "lora", tmp_path / "fresh", data_file) | _Resume())


class _Resume:
    """``job | _Resume()``: the same job with --resume."""

    def __ror__(self, job):
        job.resume = True
        return job


def test_stop_request_saves_a_checkpoint_then_resume_finishes(tiny_models, data_file, tmp_path):
    import threading

    from transformers import TrainerCallback

    stop = threading.Event()

    class CtrlC(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                stop.set()

    out = tmp_path / "adapter"
    job = make_job(tiny_models, "gpt2", "ia3", out, data_file, max_steps=5, eval_steps=100)
    job.stop, job.callbacks = stop, [CtrlC()]
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(job)
    assert (checkpoint_folder(out) / "checkpoint-3").is_dir()
    result = train(make_job(tiny_models, "gpt2", "ia3", out, data_file, max_steps=5,
                            eval_steps=100) | _Resume())
    assert result.manifest["result"]["steps"] == 5


def test_early_stopping_ends_a_diverging_run(tiny_models, data_file, tmp_path):
    job = make_job(tiny_models, "gpt2", "lora", tmp_path / "out", data_file, max_steps=30,
                   learning_rate=50.0, eval_fraction=0.3, eval_steps=1, early_stopping=1)
    result = train(job).manifest["result"]
    assert result["stopped_early"] is True and result["steps"] < 30


def test_bad_options_are_refused_before_loading(tiny_models, data_file, tmp_path):
    with pytest.raises(TrainingError, match="unknown method 'dora'"):
        train(make_job(tiny_models, "gpt2", "lora", tmp_path / "a", data_file) | _Method("dora"))
    with pytest.raises(TrainingError, match="no layer named nope"):
        job = make_job(tiny_models, "gpt2", "lora", tmp_path / "b", data_file)
        job.options = TrainOptions(method="lora", adapter=MethodOptions(target_modules=("nope",)),
                                   max_steps=1, eval_fraction=0.0, device="cpu")
        train(job)
    assert not checkpoint_folder(tmp_path / "b").exists()  # no clutter from a failed start
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(TrainingError, match="--overwrite"):
        train(make_job(tiny_models, "gpt2", "lora", tmp_path / "c", data_file))


class _Method:
    def __init__(self, name):
        self.name = name

    def __ror__(self, job):
        from dataclasses import replace

        job.options = replace(job.options, method=self.name)
        return job


# ----- loading checks, corruption, merging, listing ----------------------------------------
def test_an_adapter_for_another_base_is_refused(tiny_models, trained, tmp_path):
    from transformers import AutoConfig, GPT2LMHeadModel

    from assistant.runtime.loading import load_model

    adapter = trained[("gpt2", "lora")].out_dir
    with pytest.raises(AdapterMismatchError, match="trained on tiny-gpt2"):
        attach_adapter(base_model(tiny_models["llama"], False), adapter)
    with pytest.raises(AdapterMismatchError):
        load_model(tiny_models["llama"], "llama", "cpu", adapter=adapter)
    # Same architecture, other shape: the fingerprint tells them apart before peft would.
    config = AutoConfig.from_pretrained(tiny_models["gpt2"])
    config.n_layer = 3
    deeper = GPT2LMHeadModel(config)
    with pytest.raises(AdapterMismatchError, match="2 layers"):
        attach_adapter(deeper, adapter)
    # An explicit fingerprint is used as given.
    fingerprint = base_fingerprint(base_model(tiny_models["gpt2"], False).config)
    assert attach_adapter(deeper, adapter, base_fingerprint=fingerprint) is not None


def test_a_corrupt_adapter_folder_gives_a_clear_error(tiny_models, trained, tmp_path):
    source = trained[("gpt2", "lora")].out_dir
    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(AdapterFolderError, match="damaged"):
        attach_adapter(base_model(tiny_models["gpt2"], False), broken)
    shutil.copy(source / "adapter_model.safetensors", weights)
    (broken / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(AdapterFolderError, match="lira-adapter.json is not valid JSON"):
        attach_adapter(base_model(tiny_models["gpt2"], False), broken)
    weights.unlink()
    with pytest.raises(AdapterFolderError, match="no adapter_model.safetensors"):
        attach_adapter(base_model(tiny_models["gpt2"], False), broken)


@pytest.mark.parametrize("kind,method", [("gpt2", "lora"), ("gpt2", "ia3"), ("t5", "lora")])
def test_merged_model_gives_the_adapters_logits(tiny_models, trained, tmp_path, kind, method):
    from adapters.merging import MERGE_FILE, merge_adapter
    from assistant.runtime.loading import load_model

    adapter = trained[(kind, method)].out_dir
    report = merge_adapter(adapter, tiny_models[kind], tmp_path / "merged")
    assert report.method == method and report.max_abs_diff < 1e-4
    assert (tmp_path / "merged" / MERGE_FILE).is_file()
    assert not list((tmp_path / "merged").glob("adapter_*"))
    merged = load_model(tmp_path / "merged", "merged", "cpu")
    with_adapter = load_model(tiny_models[kind], kind, "cpu", adapter=adapter)
    inputs = merged.tokenizer("Какая столица России? Москва", return_tensors="pt")
    if kind == "t5":
        inputs["decoder_input_ids"] = torch.tensor([[merged.model.config.decoder_start_token_id]])
    with torch.no_grad():
        assert torch.allclose(merged.model(**inputs).logits, with_adapter.model(**inputs).logits,
                              atol=1e-4)
    with pytest.raises(MergeError, match="--overwrite"):
        merge_adapter(adapter, tiny_models[kind], tmp_path / "merged")


def test_prompt_tuning_cannot_be_merged(tiny_models, trained, tmp_path):
    from adapters.merging import merge_adapter

    with pytest.raises(MergeError, match="prompt-tuning adapter, which cannot be merged"):
        merge_adapter(trained[("gpt2", "prompt-tuning")].out_dir, tiny_models["gpt2"],
                      tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_listing_reads_manifests_and_flags_broken_folders(trained, tmp_path):
    from adapters.registry import list_adapters

    root = tmp_path / "adapters"
    shutil.copytree(trained[("gpt2", "lora")].out_dir, root / "answers")
    shutil.copytree(trained[("t5", "prompt-tuning")].out_dir, root / "prompts")
    (root / "empty").mkdir()
    entries = {e.name: e for e in list_adapters([("installed", root), ("bundled", tmp_path / "no")])}
    assert set(entries) == {"answers", "empty", "prompts"}
    answers = entries["answers"]
    assert (answers.method, answers.base, answers.source) == ("lora", "tiny-gpt2", "installed")
    assert isinstance(answers.train_loss, float) and answers.created.startswith("20")
    assert entries["prompts"].method == "prompt-tuning"
    assert "not an adapter folder" in entries["empty"].problem


@pytest.mark.parametrize("quantization,method", [("8bit", "lora"), ("4bit", "ia3")])
def test_quantized_base_trains_and_loads(llama128, data_file, tmp_path, quantization, method):
    import logging

    from assistant.runtime.loading import load_model

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    job = make_job({"llama": llama128}, "llama", method, tmp_path / "out", data_file, max_steps=3,
                   quantization=quantization, gradient_checkpointing=True)
    manifest = train(job).manifest
    assert manifest["base"]["quantization"] == quantization
    assert manifest["hyperparameters"]["gradient_checkpointing"] is True
    loaded = load_model(llama128, "llama128", "cpu", quantization=quantization,
                        adapter=tmp_path / "out")
    inputs = loaded.tokenizer("Какая столица России?", return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(loaded.model(**inputs).logits).all()
