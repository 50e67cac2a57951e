"""Hard NLI pairs from QA data and continued training of the NLI classifier (LoRA or whole)."""

import random
import re

import pytest
import torch

from adapters.data_nli import LABELS, NliPair, read_nli
from adapters.data_nli_hard import hard_pairs, write_pairs
from adapters.errors import TrainingDataError
from adapters.manifest import folder_fingerprint
from adapters.nli import NliModel, encoder_folder, load_classifier, load_pair_tokenizer
from adapters.nli_finetune import FineTuneOptions, fine_tune, load_start, prepare, save_adapter
from adapters.sentence_edits import figures_exchanged, negated, number_changed, year_changed
from tests.test_nli import build_encoder, pairs_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIRST = ("В 1905 году Иван Петров построил мост длиной 120 метров через реку Оку. "
         "Мост простоял до 1941 года. Его открыл губернатор Сергей Смирнов.")
SECOND = ("В 1912 году Пётр Сидоров открыл школу, в которой учились 300 детей. "
          "Школа была закрыта в 1930 году. Здание школы, которое построил Андрей Белов, сохранилось.")
THIRD = "Река Волга длиннее Оки. Её длина составляет 3530 километров."
FOURTH = "Волга впадает в Каспийское море. В 1937 году был построен канал имени Москвы."
YEAR = r"\b1\d{3}\b"
KIND_LABELS = {"sentence": "entailment", "shortened": "entailment",
               "clause dropped": "entailment", "parenthesis dropped": "entailment",
               "clauses reordered": "entailment", "other paragraph": "neutral",
               "value stated elsewhere": "neutral"}


def qa(context, answer, question="Вопрос?"):
    return {"question": question, "answers": [{"text": answer,
                                               "answer_start": context.index(answer)}]}


def squad(*articles):
    return {"data": [{"title": f"a{n}", "paragraphs": paragraphs}
                     for n, paragraphs in enumerate(articles)]}


@pytest.fixture(scope="module")
def document():
    article = [{"context": FIRST, "qas": [qa(FIRST, "1905"), qa(FIRST, "Иван Петров"),
                                          qa(FIRST, "120 метров"), qa(FIRST, "Сергей Смирнов")]},
               {"context": SECOND, "qas": [qa(SECOND, "1912"), qa(SECOND, "Пётр Сидоров"),
                                           qa(SECOND, "300 детей"), qa(SECOND, "1930")]}]
    other = [{"context": THIRD, "qas": [qa(THIRD, "3530 километров"), qa(THIRD, "Волга")]},
             {"context": FOURTH, "qas": [qa(FOURTH, "Каспийское море"), qa(FOURTH, "1937")]}]
    return squad(article, other)


def sentences_of(*paragraphs):
    return {s for p in paragraphs for s in re.split(r"(?<=\.) ", p)}


def test_hard_pairs_are_labelled_by_what_the_edit_does(document):
    draws = [hard_pairs(document, [0], seed=seed) for seed in range(4)]
    items = [item for draw in draws for item in draw]
    originals = sentences_of(FIRST, SECOND)
    assert {i.kind for i in items} >= {"sentence", "name swapped", "year swapped",
                                       "year changed", "negated", "value stated elsewhere"}
    for item in items:
        pair, label = item.pair, LABELS[item.pair.label]
        assert label == KIND_LABELS.get(item.kind, "contradiction"), item
        if item.kind == "sentence":
            assert pair.hypothesis in pair.premise
        if label == "entailment":  # every figure and name of the claim stands in its premise
            assert set(re.findall(r"\d+|[А-ЯЁ]\w+", pair.hypothesis[1:])) <= \
                set(re.findall(r"\d+|[А-ЯЁ]\w+", pair.premise))
        if label == "contradiction":
            assert pair.hypothesis not in originals and pair.hypothesis not in pair.premise
        if item.kind == "negated":
            assert pair.hypothesis.replace("не ", "", 1) in originals
        if item.kind in ("year changed", "year swapped"):  # the sentence with another year
            original = {re.sub(YEAR, "Y", o): o for o in originals}[re.sub(YEAR, "Y", pair.hypothesis)]
            assert re.findall(YEAR, original) != re.findall(YEAR, pair.hypothesis)
        if item.kind == "other paragraph":  # a sentence of the other paragraph
            assert pair.hypothesis in originals and pair.hypothesis not in pair.premise
        if item.kind == "value stated elsewhere":
            assert pair.premise in originals and pair.premise != pair.hypothesis
    for draw in draws:
        counts = [sum(i.pair.label == label for i in draw) for label in range(3)]
        assert counts[0] == counts[1] == counts[2] > 0


def test_only_the_chosen_articles_give_pairs_and_the_draw_is_seeded(document):
    chosen = hard_pairs(document, [1], seed=5)
    assert chosen and all(sentences_of(i.pair.premise) <= sentences_of(THIRD, FOURTH)
                          for i in chosen)
    assert chosen == hard_pairs(document, [1], seed=5)
    with pytest.raises(TrainingDataError):
        hard_pairs({"rows": []}, [0], seed=1)


def test_written_pairs_read_back_as_nli_data(document, tmp_path):
    items = hard_pairs(document, [0], seed=3)
    pairs, dropped = read_nli(write_pairs(items, tmp_path / "hard" / "pairs.jsonl"))
    assert not dropped
    assert [(p.premise, p.hypothesis, p.label) for p in pairs] == \
        [(i.pair.premise, i.pair.hypothesis, i.pair.label) for i in items]


def test_edits_change_what_they_say_and_leave_the_rest():
    rng = random.Random(0)
    sentence = "Бассейн охватывает 7 000 000 квадратных километров, из них 5 500 000 покрыты лесом."
    assert figures_exchanged(sentence) == ("Бассейн охватывает 5 500 000 квадратных километров, "
                                           "из них 7 000 000 покрыты лесом.")
    for _ in range(20):
        changed = number_changed(sentence, rng)
        assert changed != sentence and re.sub(r"[\d ]", "", changed) == re.sub(r"[\d ]", "", sentence)
        year = int(re.search(r"\d{4}", year_changed("Мост построен в 1905 году.", rng)).group())
        assert year != 1905 and abs(year - 1905) <= 15
    assert year_changed("Мост длиной 120 метров.", rng) is None
    assert number_changed("Мост построен в 1905 году.", rng) is None
    assert figures_exchanged("В XX-м веке было 3 моста.") is None
    assert negated("Иван Петров построил мост.") == "Иван Петров не построил мост."
    assert negated("Мост является символом города.") == "Мост не является символом города."
    assert negated("Иван Петров не построил мост.") is None
    assert negated("Канал и журнал Петрова.") is None


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A tiny encoder with a fresh LoRA NLI adapter saved as Lira saves one: the common start."""
    from peft import LoraConfig, TaskType, get_peft_model

    root = tmp_path_factory.mktemp("nli-hard")
    folder = encoder_folder(build_encoder(root / "encoder", hidden=32))
    torch.manual_seed(0)
    model = get_peft_model(load_classifier(folder), LoraConfig(
        task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"],
        modules_to_save=["classifier", "pooler"]))
    manifest = {"lira_adapter": 1, "method": "lora", "task": "nli", "labels": list(LABELS),
                "base": {"reference": "tiny-encoder", "fingerprint": folder_fingerprint(folder)}}
    save_adapter(model, manifest, root / "adapter", "tiny-encoder")
    pairs = [NliPair(p, h, LABELS.index(lab)) for p, h, lab in pairs_of(list(LABELS))[:20]]
    return {"folder": folder, "adapter": root / "adapter", "pairs": pairs}


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(before, model):
    return {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}


def test_lora_continues_the_adapter_and_saves_a_loadable_one(start, tmp_path):
    model = prepare(load_start(start["folder"], start["adapter"]), "lora")
    before = snapshot(model)
    tokenizer = load_pair_tokenizer(start["folder"])
    run = fine_tune(model, tokenizer, start["pairs"], FineTuneOptions(lr=0.01, batch_size=4,
                                                                      max_length=48))
    assert run.steps == run.planned == 5 and not run.stopped_by_time
    moved = changed(before, model)
    assert moved and all("lora_" in n or "modules_to_save" in n for n in moved)
    assert any("lora_" in n for n in moved) and any("classifier" in n for n in moved)
    save_adapter(model, {"lira_adapter": 1, "method": "lora", "task": "nli",
                         "labels": list(LABELS)}, tmp_path / "out", "tiny-encoder")
    pairs = [(p.premise, p.hypothesis) for p in start["pairs"][:6]]
    expected = NliModel(model, tokenizer, 48).scores(pairs)
    reloaded = NliModel.load(tmp_path / "out", start["folder"]).scores(pairs)
    for want, got in zip(expected, reloaded):
        assert got == pytest.approx(want, abs=1e-5)


def test_full_fine_tune_trains_all_but_the_word_embeddings(start):
    model = prepare(load_start(start["folder"], start["adapter"]), "full")
    assert not any("lora_" in n for n, _ in model.named_parameters())
    before = snapshot(model)
    run = fine_tune(model, load_pair_tokenizer(start["folder"]), start["pairs"],
                    FineTuneOptions(method="full", lr=0.01, batch_size=4, max_length=48))
    assert run.steps == 5
    moved = changed(before, model)
    assert not any("word_embeddings" in n for n in moved)
    assert any("encoder.layer.0.attention" in n for n in moved) and "classifier.weight" in moved
