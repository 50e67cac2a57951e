"""The NLI classifier: readers and labels, the seeded test split, training, scoring, refusals."""

import csv
import json
import math
import shutil

import pytest
import torch

from adapters.data_nli import (
    NOT_ENTAILMENT,
    label_id,
    looks_like_nli,
    nli_data,
    read_nli,
    set_name,
)
from adapters.errors import (
    AdapterFolderError,
    AdapterMismatchError,
    TrainingDataError,
    TrainingError,
)
from adapters.methods import MethodOptions
from adapters.nli import (
    NliModel,
    NliOptions,
    base_reference,
    encode_pairs,
    load_pair_tokenizer,
)
from adapters.nli_metrics import nli_report
from adapters.nli_training import is_nli_job, nli_loss
from adapters.training import TrainJob, TrainOptions, train
from adapters.training_data import DataOptions, load_training_data
from tests.conftest import build_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUBJECTS = ["Кошка", "Собака", "Пушкин", "Лермонтов", "Некрасов", "Блок", "Москва", "Петербург"]
PLACES = ["на диване", "во дворе", "в Москве", "у моря", "в лесу", "дома"]


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                    encoding="utf-8")
    return path


def write_wanli(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "text", "label"])
        for number, (premise, hypothesis, label) in enumerate(rows):
            writer.writerow([number, f"Предпосылка: {premise} Гипотеза: {hypothesis}", label])
    return path


def pairs_of(label_names):
    """Distinct (premise, hypothesis, label) triples the label of which follows from the words."""
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for j, place in enumerate(PLACES):
            premise = f"{subject} спит {place}."
            label = label_names[(i + j) % 3]
            hypothesis = {0: f"{subject} спит.", 1: f"{subject} видит сон {place}.",
                          2: f"{subject} не спит {place}."}[(i + j) % 3]
            rows.append((premise, hypothesis, label))
    return rows


@pytest.fixture(scope="module")
def nli_files(tmp_path_factory):
    """TERRa-, RCB- and WaNLI-shaped files (train and val where the real sets have them)."""
    root = tmp_path_factory.mktemp("nli")
    english = pairs_of(["entailment", "neutral", "contradiction"])
    terra = [{"premise": p, "hypothesis": h, "label": "entailment" if lab == "entailment"
              else "not_entailment", "idx": i} for i, (p, h, lab) in enumerate(english)]
    rcb = [{"premise": p, "hypothesis": h, "label": lab, "verb": "спать", "negation": "no",
            "genre": "kp", "idx": i} for i, (p, h, lab) in enumerate(english)]
    russian = pairs_of(["Логическое следование", "Нейтральная взаимосвязь", "Противоречие"])
    return {"terra_train": write_jsonl(root / "terra" / "train.jsonl", terra[:36]),
            "terra_val": write_jsonl(root / "terra" / "val.jsonl", terra[36:]),
            "rcb_train": write_jsonl(root / "rcb" / "train.jsonl", rcb[:40]),
            "rcb_val": write_jsonl(root / "rcb" / "val.jsonl", rcb[40:]),
            "wanli": write_wanli(root / "ru-wanli" / "wanli.ru.csv", russian)}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A sentence-transformers-shaped folder holding a tiny random BERT with a zero pooler."""
    return build_encoder(tmp_path_factory.mktemp("tiny-encoder"), hidden=32)


def build_encoder(root, hidden):
    from transformers import AutoTokenizer, BertConfig, BertModel

    inner = root / "0_Transformer"
    build_tokenizer(inner)
    tok = AutoTokenizer.from_pretrained(inner)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=2 * hidden,
                                max_position_embeddings=128, pad_token_id=tok.pad_token_id))
    with torch.no_grad():  # as in the bundled e5, which has no pooler
        bert.pooler.dense.weight.zero_()
        bert.pooler.dense.bias.zero_()
    bert.save_pretrained(inner, safe_serialization=True)
    (root / "modules.json").write_text(json.dumps([{
        "idx": 0, "name": "0", "path": "0_Transformer",
        "type": "sentence_transformers.models.Transformer"}]), encoding="utf-8")
    return root


def nli_job(encoder, files, out, **options):
    options.setdefault("max_steps", 150)
    return TrainJob(base_reference="tiny-encoder", base_path=encoder,
                    data_paths=[files["terra_train"], files["rcb_train"], files["wanli"]],
                    out_dir=out, options=TrainOptions(
                        method="lora", adapter=MethodOptions(rank=4, alpha=8, dropout=0.0),
                        learning_rate=0.003, batch_size=8, warmup_steps=0, logging_steps=1,
                        max_length=48, eval_fraction=0.1, eval_steps=75, device="cpu",
                        test_data=(files["terra_val"], files["rcb_val"]), **options),
                    command="lira train lora --format nli ...")


@pytest.fixture(scope="module")
def trained(tiny_encoder, nli_files, tmp_path_factory):
    job = nli_job(tiny_encoder, nli_files, tmp_path_factory.mktemp("nli-out") / "nli")
    lines = []
    job.progress = lines.append
    result = train(job)
    result.lines = lines
    return result


def test_readers_read_each_shape_and_map_the_labels(nli_files, tmp_path):
    terra, _ = read_nli(nli_files["terra_train"])
    rcb, _ = read_nli(nli_files["rcb_train"])
    wanli, _ = read_nli(nli_files["wanli"])
    assert (terra[0].premise, terra[0].hypothesis, terra[0].label) == (
        "Кошка спит на диване.", "Кошка спит.", 0)
    assert {p.label for p in terra} == {0, NOT_ENTAILMENT}  # not forced into contradiction
    assert [p.label for p in rcb[:3]] == [0, 1, 2]
    assert (wanli[2].premise, wanli[2].hypothesis, wanli[2].label) == (
        "Кошка спит в Москве.", "Кошка не спит в Москве.", 2)
    assert [p.label for p in wanli[:3]] == [0, 1, 2]
    assert (terra[0].source, rcb[0].source, wanli[0].source) == ("terra", "rcb", "wanli")
    generic = write_jsonl(tmp_path / "pairs.jsonl", [
        {"premise": "А", "hypothesis": "Б", "label": 2},
        {"premise": "А", "hypothesis": "В", "label": "Противоречие"},
        {"premise": "А", "hypothesis": "Г", "label": "maybe"},
        {"premise": "", "hypothesis": "Д", "label": "neutral"}])
    pairs, dropped = read_nli(generic)
    assert [p.label for p in pairs] == [2, 2]
    assert dropped == {"unknown_label": 1, "no_premise_or_hypothesis": 1}


def test_label_names_and_set_names():
    assert [label_id(x) for x in ("ENTAILMENT", " Логическое  следование", "neutral",
                                  "Нейтральная взаимосвязь", "contradiction", "not_entailment",
                                  1, "2", 3, True, None)] == [0, 0, 1, 1, 2, NOT_ENTAILMENT,
                                                              1, 2, None, None, None]
    from pathlib import Path

    assert set_name(Path("nli/terra/val.jsonl")) == "terra"
    assert set_name(Path("nli/ru-wanli/wanli.ru.csv")) == "wanli"


def test_detection_tells_nli_from_other_data(nli_files, tmp_path):
    instructions = write_jsonl(tmp_path / "instr.jsonl",
                               [{"instruction": "Кто?", "input": "", "output": "Пушкин"}])
    texts = tmp_path / "texts.csv"
    texts.write_text("text,label\nМороз и солнце,poem\n", encoding="utf-8")
    assert all(looks_like_nli(nli_files[k]) for k in ("terra_train", "rcb_val", "wanli"))
    assert not looks_like_nli(instructions) and not looks_like_nli(texts)
    with pytest.raises(TrainingDataError, match="NLI pairs"):
        load_training_data([nli_files["rcb_train"]], DataOptions(), len)

    def job(*paths, **options):
        return TrainJob("b", tmp_path, list(paths), tmp_path / "out",
                        TrainOptions(method="lora", **options))

    assert is_nli_job(job(nli_files["terra_train"], nli_files["wanli"]))
    assert is_nli_job(job(instructions, data=DataOptions(format="nli")))
    assert not is_nli_job(job(instructions))
    with pytest.raises(TrainingDataError, match="mix NLI pairs"):
        is_nli_job(job(instructions, nli_files["wanli"]))
    with pytest.raises(TrainingError, match="--test-data is for NLI"):
        is_nli_job(job(instructions, test_data=(nli_files["rcb_val"],)))


def test_test_split_uses_test_files_and_a_seeded_share_of_the_rest(nli_files):
    paths = [nli_files["terra_train"], nli_files["rcb_train"], nli_files["wanli"]]
    tests = [nli_files["terra_val"], nli_files["rcb_val"]]
    data = nli_data(paths, tests, 0.25, seed=1)
    assert data.test_origin == {"terra": "file", "rcb": "file", "wanli": "0.25 held out"}
    held = [p for p in data.test if p.source == "wanli"]
    assert len(held) == 12 and len([p for p in data.test if p.source == "terra"]) == 12
    assert not {(p.premise, p.hypothesis) for p in data.train} & {
        (p.premise, p.hypothesis) for p in data.test}
    assert [p for p in nli_data(paths, tests, 0.25, seed=1).test if p.source == "wanli"] == held
    assert [p for p in nli_data(paths, tests, 0.25, seed=2).test if p.source == "wanli"] != held
    # WaNLI repeats RCB's pairs here, so the ones RCB tests on are kept out of training.
    assert data.dropped["also_in_test"] > 0


def test_loss_merges_neutral_and_contradiction_for_two_way_rows():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.3, 0.1, 1.2], [1.0, 2.0, 0.0]])
    labels = torch.tensor([[0], [NOT_ENTAILMENT], [2]])
    p = torch.softmax(logits, dim=-1)
    expected = -(math.log(p[0, 0]) + math.log(p[1, 1] + p[1, 2]) + math.log(p[2, 2])) / 3
    assert nli_loss({"logits": logits}, labels).item() == pytest.approx(expected, rel=1e-6)
    assert nli_loss({"logits": logits}, labels, 6).item() == pytest.approx(expected / 2, rel=1e-6)


def test_report_scores_two_way_sets_two_way():
    from adapters.data_nli import NliPair

    pairs = [NliPair("p", "h", 0, "terra"), NliPair("p", "h", NOT_ENTAILMENT, "terra"),
             NliPair("p", "h", 1, "rcb"), NliPair("p", "h", 2, "rcb")]
    scores = [{"entailment": 0.45, "neutral": 0.3, "contradiction": 0.25},  # argmax, not > 1/2
              {"entailment": 0.2, "neutral": 0.1, "contradiction": 0.7},
              {"entailment": 0.2, "neutral": 0.5, "contradiction": 0.3},
              {"entailment": 0.2, "neutral": 0.5, "contradiction": 0.3}]
    report = nli_report(pairs, scores)
    assert report["test_accuracy"] == 0.5
    assert report["test_per_set"]["terra"]["confusion"] == {
        "entailment": {"entailment": 0, "not_entailment": 1},
        "not_entailment": {"entailment": 0, "not_entailment": 1}}
    assert report["test_confusion"]["contradiction"] == {"entailment": 0, "neutral": 1,
                                                         "contradiction": 0}


def test_training_lowers_the_loss_and_reports_the_test(trained, nli_files):
    manifest = trained.manifest
    losses = [float(line.split("loss ")[1].split()[0]) for line in trained.lines
              if "  loss " in line]
    assert len(losses) == 150 and sum(losses[-10:]) < 0.6 * sum(losses[:10])
    assert manifest["task"] == "nli" and manifest["labels"] == ["entailment", "neutral",
                                                                 "contradiction"]
    result = manifest["result"]
    assert result["test_n"] == 12 + 8 + 5  # TERRa and RCB val files, 10% of WaNLI
    assert set(result["test_per_set"]) == {"terra", "rcb", "wanli"}
    assert result["test_per_set"]["terra"]["labels"] == "2-way"
    assert sum(sum(row.values()) for row in result["test_confusion"].values()) == 8 + 5
    assert 0 <= result["test_accuracy"] <= 1
    assert [f["path"] for f in manifest["data"]["test_files"]] == [
        str(nli_files["terra_val"]), str(nli_files["rcb_val"])]
    assert manifest["splits"]["test_origin"]["wanli"] == "0.1 held out"
    config = json.loads((trained.out_dir / "adapter_config.json").read_text())
    assert config["task_type"] == "SEQ_CLS" and "pooler" in config["modules_to_save"]


def test_reloaded_adapter_gives_the_same_probabilities(trained, tiny_encoder, nli_files):
    pairs = [(p.premise, p.hypothesis) for p in read_nli(nli_files["rcb_val"])[0]]
    loaded = NliModel.load(trained.out_dir, tiny_encoder, NliOptions(batch_size=3))
    in_memory = NliModel(trained.model, loaded.tokenizer, loaded.max_length)
    scores = loaded.scores(pairs)
    assert loaded.max_length == 48  # as trained
    for got, want in zip(scores, in_memory.scores(pairs)):
        assert list(got) == ["entailment", "neutral", "contradiction"]
        assert sum(got.values()) == pytest.approx(1.0, abs=1e-9)
        assert got == pytest.approx(want, abs=1e-6)
    assert len({round(s["entailment"], 6) for s in scores}) > 1  # the pairs are told apart
    assert loaded.scores([]) == []
    assert base_reference(trained.out_dir) == "tiny-encoder"


def test_long_premises_are_cut_and_the_claim_kept_whole(tiny_encoder):
    tok = load_pair_tokenizer(tiny_encoder / "0_Transformer")
    claim = "Пушкин писал стихи о любви."
    [ids] = encode_pairs(tok, [("Мороз и солнце; день чудесный! " * 40, claim)], 48)
    claim_ids = tok(claim, add_special_tokens=False)["input_ids"]
    assert len(ids) == 48 and ids[-len(claim_ids):] == claim_ids
    [both] = encode_pairs(tok, [("Кошка спит.", "Москва — столица России. " * 40)], 48)
    assert len(both) == 48  # a claim with no room left for the premise is cut too


def test_an_adapter_for_another_base_is_refused(trained, tmp_path):
    other = build_encoder(tmp_path / "wider", hidden=48)
    with pytest.raises(AdapterMismatchError, match="was trained on tiny-encoder"):
        NliModel.load(trained.out_dir, other)


def test_broken_adapter_folders_give_one_clear_error(trained, tiny_encoder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained.out_dir, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"\x00not safetensors at all")
    with pytest.raises(AdapterFolderError, match="damaged"):
        NliModel.load(broken, tiny_encoder)
    with pytest.raises(AdapterFolderError, match="does not exist"):
        NliModel.load(tmp_path / "missing", tiny_encoder)
    causal = tmp_path / "causal"
    shutil.copytree(trained.out_dir, causal)
    config = json.loads((causal / "adapter_config.json").read_text())
    (causal / "adapter_config.json").write_text(json.dumps(config | {"task_type": "CAUSAL_LM"}))
    with pytest.raises(AdapterFolderError, match="not an NLI classifier"):
        NliModel.load(causal, tiny_encoder)


def test_lira_train_takes_nli_data_and_test_files(tiny_encoder, nli_files, tmp_path, capsys,
                                                  lira_home):
    from assistant.cli import main

    code = main(["--device", "cpu", "train", "lora", "--base", str(tiny_encoder), "--data",
                 str(nli_files["terra_train"]), "--data", str(nli_files["wanli"]), "--test-data",
                 str(nli_files["terra_val"]), "--test-fraction", "0.25", "--format", "nli",
                 "--out", str(tmp_path / "nli"), "--max-steps", "2", "--max-length", "48",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["splits"]["test_origin"] == {"terra": "file", "wanli": "0.25 held out"}
    assert manifest["result"]["test_n"] == 12 + 12
    assert "--test-data" in manifest["command"] and "--format nli" in manifest["command"]
    assert "test accuracy" in err


def test_a_blank_pooler_starts_as_a_standardiser_of_the_first_token(tiny_encoder, nli_files):
    from adapters.nli import load_classifier
    from adapters.nli_head import init_blank_pooler
    from adapters.nli_training import PairRow

    model = load_classifier(tiny_encoder / "0_Transformer")
    tok = load_pair_tokenizer(tiny_encoder / "0_Transformer")
    pairs = [(p.premise, p.hypothesis) for p in read_nli(nli_files["wanli"])[0]]
    rows = [PairRow(input_ids=ids, labels=[0]) for ids in encode_pairs(tok, pairs, 48)]
    assert not model.bert.pooler.dense.weight.any()
    assert init_blank_pooler(model, rows, tok.pad_token_id, seed=0)
    batch = tok([p for p, _ in pairs], [h for _, h in pairs], padding=True, return_tensors="pt")
    with torch.no_grad():
        first = model.bert(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
        z = model.bert.pooler.dense(first)
    assert z.mean(0).abs().max() < 1e-3 and z.std(0).sub(0.5).abs().max() < 1e-3
    assert not init_blank_pooler(model, rows, tok.pad_token_id, seed=0)  # a set pooler stays


@pytest.mark.bundled
def test_the_bundled_nli_adapter_reproduces_its_terra_result(bundled_models):
    from adapters.manifest import read_manifest
    from adapters.nli import BUNDLED_NLI
    from adapters.nli_metrics import nli_report
    from tests.conftest import shared_data

    terra = shared_data("nli/terra/val.jsonl")
    recorded = read_manifest(BUNDLED_NLI)["result"]["test_per_set"]["terra"]
    model = NliModel.load(BUNDLED_NLI, bundled_models / base_reference(BUNDLED_NLI),
                          NliOptions(batch_size=16))  # batched as in training
    pairs = read_nli(terra)[0]
    scores = model.scores([(p.premise, p.hypothesis) for p in pairs])
    assert all(sum(s.values()) == pytest.approx(1.0) for s in scores)
    assert nli_report(pairs, scores)["test_per_set"]["terra"]["accuracy"] == recorded["accuracy"]
    assert recorded["accuracy"] > 0.6  # above the 50% of a majority guess
