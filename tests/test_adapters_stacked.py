"""LoRA and prompt tuning as one adapter on a seq2seq base (the seed 001's recipe)."""

import json
import warnings

import pytest
import torch

from adapters.checkpoints import checkpoint_folder
from adapters.errors import AdapterFolderError
from adapters.loading import attach_adapter
from adapters.manifest import MANIFEST_FILE
from adapters.methods import MethodOptions
from adapters.stacked import CHECKPOINT_FILE, INNER_FOLDER
from adapters.training import TrainJob, TrainOptions, train
from tests.conftest import one_line_error
from tests.test_adapters_data import write_jsonl

RECORDS = [{"instruction": "Какая столица России?", "input": None, "output": "Москва",
            "full_output": None},
           {"instruction": "Кто основал Петербург?", "input": "", "output": "Пётр Первый",
            "full_output": ""}] * 3
METHOD = "lora+prompt-tuning"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "ru_instruct_gpt4.jsonl", RECORDS)


def make_job(tiny_models, out, data_file, **options):
    options.setdefault("max_steps", 8)
    options.setdefault("eval_fraction", 0.0)
    options.setdefault("learning_rate", 0.05)
    return TrainJob(base_reference="tiny-t5", base_path=tiny_models["t5"], data_paths=[data_file],
                    out_dir=out, options=TrainOptions(
                        method=METHOD, batch_size=3, warmup_steps=0, logging_steps=1,
                        device="cpu",
                        adapter=MethodOptions(rank=8, alpha=16, virtual_tokens=20), **options),
                    command=f"lira train {METHOD} ...")


@pytest.fixture(scope="module")
def trained(tiny_models, data_file, tmp_path_factory):
    return train(make_job(tiny_models, tmp_path_factory.mktemp("stacked") / "seed001", data_file))


def t5(tiny_models):
    from transformers import AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM.from_pretrained(tiny_models["t5"]).eval()


def logits(model):
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids),
                     decoder_input_ids=torch.tensor([[0, 11, 12]])).logits


def test_both_parts_train_and_the_folder_reloads_as_one_unit(tiny_models, trained):
    model = trained.model.eval()
    reloaded = attach_adapter(t5(tiny_models), trained.out_dir)
    assert torch.equal(logits(model), logits(reloaded))
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prompt_only = PeftModel.from_pretrained(t5(tiny_models), str(trained.out_dir)).eval()
        lora_only = PeftModel.from_pretrained(t5(tiny_models),
                                              str(trained.out_dir / INNER_FOLDER)).eval()
    for part in (prompt_only, lora_only, t5(tiny_models)):  # each part moved the logits
        assert (logits(part) - logits(model)).abs().max() > 1e-3
    generated = reloaded.generate(input_ids=torch.tensor([[5, 6, 7]]), max_new_tokens=3)
    assert generated.shape[1] >= 2


def test_the_folder_and_manifest_record_both_parts(trained):
    assert {p.name for p in trained.out_dir.iterdir()} == {
        "adapter_config.json", "adapter_model.safetensors", MANIFEST_FILE, INNER_FOLDER}
    assert {p.name for p in (trained.out_dir / INNER_FOLDER).iterdir()} == {
        "adapter_config.json", "adapter_model.safetensors"}
    outer = json.loads((trained.out_dir / "adapter_config.json").read_text())
    inner = json.loads((trained.out_dir / INNER_FOLDER / "adapter_config.json").read_text())
    assert (outer["peft_type"], outer["num_virtual_tokens"], outer["num_transformer_submodules"]) == (
        "PROMPT_TUNING", 20, 1)
    assert (inner["peft_type"], inner["r"], sorted(inner["target_modules"])) == ("LORA", 8, ["q", "v"])
    assert outer["base_model_name_or_path"] == inner["base_model_name_or_path"] == "tiny-t5"
    manifest = trained.manifest
    assert manifest["method"] == METHOD and manifest["parts"] == {"prompt-tuning": ".",
                                                                 "lora": "lora/"}
    adapter = manifest["hyperparameters"]["adapter"]
    assert adapter["lora"]["rank"] == 8 and adapter["lora"]["target_modules"] == ["q", "v"]
    assert adapter["prompt-tuning"]["virtual_tokens"] == 20
    assert adapter["prompt-tuning"]["prepended_to"] == "encoder"
    # The seed's count: LoRA on q and v of every attention (the encoder's self-attention, the
    # decoder's self- and cross-attention: 2 + 2 * 2 layers, 2 projections each, r * (32 + 32)
    # weights per projection) plus 20 prompt rows of width 32, encoder only.
    assert manifest["parameters"]["trainable"] == (2 + 2 * 2) * 2 * 8 * (32 + 32) + 20 * 32


def test_resume_restores_the_lora_part_from_the_checkpoint(tiny_models, data_file, trained,
                                                            tmp_path):
    from tests.test_adapters_training import InterruptAt

    out = tmp_path / "resumed"
    job = make_job(tiny_models, out, data_file, eval_steps=4)
    job.callbacks = [InterruptAt(5)]
    with pytest.raises(KeyboardInterrupt):
        train(job)
    assert (checkpoint_folder(out) / "checkpoint-4" / CHECKPOINT_FILE).is_file()
    job = make_job(tiny_models, out, data_file, eval_steps=4)
    job.resume = True
    result = train(job)
    assert result.manifest["result"]["resumed_from"].endswith("checkpoint-4")
    assert torch.allclose(logits(result.model.eval()), logits(trained.model.eval()), atol=1e-5)


def test_a_damaged_lora_part_is_refused(tiny_models, trained, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained.out_dir, broken)
    (broken / INNER_FOLDER / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterFolderError, match="no adapter_model.safetensors"):
        attach_adapter(t5(tiny_models), broken)


def test_seed_001_through_the_cli(run, tiny_models, lira_home, tmp_path):
    table = tmp_path / "ru_instruct_gpt4.tsv"
    table.write_text("instruction\tinput\toutput\tfull_output\n"
                     + "Какая столица России?\t\tМосква\t\n" * 4, encoding="utf-8")
    code, out, err = run("--device", "cpu", "train", METHOD, "--base", tiny_models["t5"],
                         "--data", table, "--name", "seed001", "--max-steps", "2",
                         "--eval-fraction", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["method"] == METHOD
    code, out, _ = run("adapters", "list", "--json")
    [entry] = [e for e in json.loads(out) if e["source"] == "installed"]
    assert (entry["name"], entry["method"]) == ("seed001", METHOD)
    code, out, err = run("--model", tiny_models["t5"], "ask", "Какая столица России?", "--no-rag",
                         "--adapter", "seed001", "--json", "--max-new-tokens", "2")
    assert code == 0, err
    assert json.loads(out)["model"]["adapter"] == "seed001"
    line = one_line_error(*run("adapters", "merge", "seed001", "--out", tmp_path / "m")[::2])
    assert "prompt-tuning adapter with a LoRA part, which cannot be merged" in line


def lora_weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_early_stopping_restores_the_best_lora_part_too(tiny_models, data_file, tmp_path):
    from transformers import TrainerCallback

    saved = {}

    class Record(TrainerCallback):
        def on_save(self, args, state, control, model=None, **kwargs):
            saved[state.global_step] = lora_weights(model)

    job = make_job(tiny_models, tmp_path / "out", data_file, max_steps=30, learning_rate=50.0,
                   eval_fraction=0.3, eval_steps=1, early_stopping=1)
    job.callbacks = [Record()]
    result = train(job)
    last = result.manifest["result"]["steps"]
    assert result.manifest["result"]["stopped_early"] is True
    final = lora_weights(result.model)
    [best] = [step for step, weights in saved.items()
              if all(torch.equal(weights[n], final[n]) for n in final)]
    assert best < last  # the best checkpoint's LoRA weights, not the last step's
