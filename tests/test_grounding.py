"""The grounding checker on hand-made Russian claims: facts, negation, wording, NLI."""

from __future__ import annotations

import pytest

from assistant.grounding import (
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    GroundingError,
    SourceText,
    check_answer,
)
from assistant.grounding.claims import split_claims
from assistant.grounding.facts import sentence_facts
from assistant.grounding.nli import LABELS, ClassifierNLI, load_nli, map_labels
from assistant.grounding.quantities import quantity_facts
from assistant.rag import Source

SOURCE = (
    "Санкт-Петербург был основан 27 мая 1703 года царём Петром Первым. "
    "В 1712 году столица России была перенесена из Москвы в Петербург. "
    "Население города в 2021 году составляло 5 384 342 человека. "
    "Поэма «Медный всадник» написана Александром Пушкиным в 1833 году. "
    "Город не был столицей в советское время."
)

CASES = [
    # supported: paraphrases, other word forms, other notations of the same value
    ("Петербург основал царь Пётр Первый в 1703 году.", SUPPORTED),
    ("Город основан в мае 1703 года.", SUPPORTED),
    ("В 2021 году население города составляло 5384342 человека.", SUPPORTED),
    ("Пушкин написал поэму «Медный всадник» в 1833 году.", SUPPORTED),
    ("В советское время город не был столицей.", SUPPORTED),
    # contradicted: a changed number, year, date, name, quotation, negation
    ("Население города в 2021 году составляло 7 миллионов человек.", CONTRADICTED),
    ("Столицу России перенесли из Москвы в Петербург в 1715 году.", CONTRADICTED),
    ("Санкт-Петербург был основан 16 мая 1703 года.", CONTRADICTED),
    ("Поэма «Медный всадник» написана Михаилом Лермонтовым в 1833 году.", CONTRADICTED),
    ("Александр Пушкин написал поэму «Евгений Онегин» в 1833 году.", CONTRADICTED),
    ("Санкт-Петербург не был основан Петром Первым.", CONTRADICTED),
    ("Город был столицей в советское время.", CONTRADICTED),
    # unsupported: about something else, or a value the sources never state
    ("Кошки спят на диване по шестнадцать часов в сутки.", UNSUPPORTED),
    ("В Петербурге построено 342 моста через реки и каналы.", UNSUPPORTED),
]


@pytest.mark.parametrize("claim,verdict", CASES, ids=[c for c, _ in CASES])
def test_verdicts_on_hand_made_claims(claim, verdict):
    report = check_answer(claim, [SOURCE])
    (sentence,) = report.sentences
    assert sentence.verdict == verdict, sentence.signals.to_dict()
    assert 0.0 <= sentence.score <= 1.0
    assert (sentence.score >= 0.5) == (verdict == SUPPORTED)


def test_evidence_is_the_sentence_with_the_slot():
    report = check_answer("Столицу перенесли из Москвы в Петербург в 1715 году.", [SOURCE])
    (sentence,) = report.sentences
    assert sentence.evidence.text == ("В 1712 году столица России была перенесена из Москвы "
                                      "в Петербург.")
    (claim_fact, evidence_fact), = sentence.signals.facts.differs
    assert (claim_fact.value, evidence_fact.value) == ("1715", "1712")


def test_answer_score_is_one_when_all_supported_and_falls_with_each_bad_claim():
    good = "Петербург основал Пётр Первый в 1703 году. Население города в 2021 году " \
           "составляло 5 384 342 человека."
    one_bad = good + " Столицу перенесли в Петербург в 1715 году."
    two_bad = one_bad + " Кошки спят на диване по шестнадцать часов."
    scores = [check_answer(text, [SOURCE]).score for text in (good, one_bad, two_bad)]
    assert scores[0] == 1.0
    assert scores[0] > scores[1] > scores[2]


def test_citations_are_stripped_and_kept_and_sources_keep_their_labels():
    sources = [Source(n=1, path="spb.txt", title="СПб", author="", text=SOURCE, score=0.9),
               Source(n=2, path="cats.txt", title="Кошки", author="",
                      text="Кошки спят по шестнадцать часов в сутки.", score=0.5)]
    report = check_answer("Кошки спят по шестнадцать часов в сутки [2]. Да. "
                          "Город основан Петром Первым в 1703 году. [1]", sources)
    first, second = report.sentences  # "Да." states nothing and is left out
    assert first.text == "Кошки спят по шестнадцать часов в сутки." and first.cites == [2]
    assert second.cites == [1] and "[1]" not in second.text
    assert first.evidence.source == "cats.txt" and second.evidence.source == "spb.txt"
    assert report.to_dict()["sentences"][0] == {
        "text": first.text, "verdict": SUPPORTED, "score": round(first.score, 4),
        "evidence": {"source": "cats.txt", "text": "Кошки спят по шестнадцать часов в сутки."}}


def test_no_sources_means_nothing_is_supported():
    report = check_answer("Петербург основан в 1703 году.", [])
    (sentence,) = report.sentences
    assert sentence.verdict == UNSUPPORTED and sentence.evidence is None
    assert report.to_dict()["sentences"][0]["evidence"] is None


def test_claims_are_split_with_abbreviations_and_list_items():
    claims = split_claims("- Город основан в 1703 г. Петром I [1].\n- Т. е. давно [2, 3].")
    assert [c.text for c in claims] == ["Город основан в 1703 г. Петром I.", "Т. е. давно."]
    assert [c.cites for c in claims] == [[1], [2, 3]]


def test_numbers_are_normalised_and_dates_read_in_any_case():
    values = {(f.kind, f.value) for f in quantity_facts(
        "Было 1 500 000 жителей, или 1,5 млн; рост 12,5 %; 3 марта 1861 года; в мае; XVIII век.")}
    assert {("number", "1500000"), ("percent", "12.5"), ("date", "03.03"), ("month", "3"),
            ("year", "1861"), ("month", "5"), ("number", "18")} <= values
    assert ("number", "1.5") not in values  # "1,5 млн" is one number, not 1.5


def test_names_skip_the_first_word_unless_known_and_compare_by_stem():
    facts = sentence_facts("Вчера Пушкина видели в Москве.")
    assert [(f.kind, f.value) for f in facts] == [("name", "пушкин"), ("name", "москв")]
    known = sentence_facts("Пушкин жил в Москве.", frozenset({"пушкин"}))
    assert ("name", "пушкин") in [(f.kind, f.value) for f in known]


class FixedNLI:
    """An entailment scorer with fixed answers: stands in for a trained model."""

    def __init__(self, probs):
        self.probs, self.pairs = probs, []

    def scores(self, pairs):
        self.pairs += pairs
        return [dict(self.probs) for _ in pairs]


def test_an_nli_scorer_is_used_when_given():
    claim = "Петербург основал царь Пётр Первый в 1703 году, на болотах у Невы."
    contradicting = FixedNLI({"entailment": 0.02, "neutral": 0.08, "contradiction": 0.9})
    report = check_answer(claim, [SOURCE], nli=contradicting)
    assert report.sentences[0].verdict == CONTRADICTED
    premise, hypothesis = contradicting.pairs[0]
    assert hypothesis == claim and "1703" in premise
    unsure = FixedNLI({"entailment": 0.0, "neutral": 1.0, "contradiction": 0.0})
    plain = check_answer(claim, [SOURCE]).sentences[0].score
    assert check_answer(claim, [SOURCE], nli=unsure).sentences[0].score < plain


def test_nli_does_not_overrule_a_claim_worded_as_its_source():
    claim = "Санкт-Петербург был основан 27 мая 1703 года царём Петром Первым."
    contradicting = FixedNLI({"entailment": 0.02, "neutral": 0.08, "contradiction": 0.9})
    sentence = check_answer(claim, [SOURCE], nli=contradicting).sentences[0]
    assert sentence.verdict == SUPPORTED and contradicting.pairs
    assert sentence.score == check_answer(claim, [SOURCE]).sentences[0].score


def test_label_names_map_onto_three_labels():
    assert map_labels({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}) == \
        {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert map_labels({"0": "entailment", "1": "not_entailment"}) == \
        {0: "entailment", 1: "neutral"}
    assert map_labels({0: "Противоречие", 1: "Логическое следование"}) == \
        {0: "contradiction", 1: "entailment"}
    with pytest.raises(GroundingError, match="LABEL_0"):
        map_labels({0: "LABEL_0", 1: "LABEL_1"})


def _tiny_classifier(folder, tiny_embedder_dir, id2label):
    """A random BERT sequence classifier with the tiny embedder's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_embedder_dir.parent / "bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_hub_style_classifier_folder_scores_pairs(tmp_path, tiny_embedder_dir, tiny_settings):
    folder = _tiny_classifier(tmp_path / "nli", tiny_embedder_dir,
                              {0: "entailment", 1: "neutral", 2: "contradiction"})
    scorer = load_nli(str(folder), tiny_settings)
    assert isinstance(scorer, ClassifierNLI)
    rows = scorer.scores([("кошка спит на диване", "кошка спит"), ("москва", "столица")])
    assert len(rows) == 2
    for row in rows:
        assert set(row) == set(LABELS) and sum(row.values()) == pytest.approx(1.0, abs=1e-5)
    report = check_answer("Город основан в 1703 году.", [SOURCE], nli=scorer)
    assert report.sentences[0].signals.nli is not None


def test_a_classifier_without_label_names_is_refused(tmp_path, tiny_embedder_dir,
                                                     tiny_settings):
    folder = _tiny_classifier(tmp_path / "nli", tiny_embedder_dir,
                              {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(GroundingError, match="id2label"):
        load_nli(str(folder), tiny_settings)
    with pytest.raises(GroundingError, match="config.json"):
        load_nli(str(tmp_path), tiny_settings)


def test_with_an_embedder_facts_still_decide(tiny_settings):
    from assistant.engine import Engine

    embedder = Engine(tiny_settings).embedder()
    sources = [SourceText("spb", SOURCE, 1)]
    report = check_answer("Санкт-Петербург был основан 27 мая 1703 года царём Петром Первым. "
                          "Население города в 2021 году составляло 7 миллионов человек.",
                          sources, embedder)
    verdicts = [s.verdict for s in report.sentences]
    assert verdicts == [SUPPORTED, CONTRADICTED]
    assert all(s.signals.similarity is not None for s in report.sentences)


@pytest.mark.bundled
def test_bundled_e5_ranks_a_paraphrase_above_an_unrelated_claim(bundled_settings):
    from assistant.engine import Engine

    embedder = Engine(bundled_settings).embedder()
    report = check_answer("Петербург основал царь Пётр Первый в 1703 году. "
                          "Население города в 2021 году составляло 7 миллионов человек. "
                          "Кошки спят на диване по шестнадцать часов в сутки.",
                          [SOURCE], embedder)
    paraphrase, changed, unrelated = report.sentences
    assert [s.verdict for s in report.sentences] == [SUPPORTED, CONTRADICTED, UNSUPPORTED]
    assert paraphrase.signals.similarity > unrelated.signals.similarity + 0.05
    assert paraphrase.score > unrelated.score and paraphrase.score > changed.score


def test_a_value_moved_onto_another_subject_is_a_contradiction():
    # "Иран" is in the sources, but as who stopped the oil, not what hurt the economy
    source = "Эмбарго негативно отразилось на экономике США. Поставки нефти в 1979 году прекратил Иран."
    swapped = check_answer("Иран негативно отразилось на экономике США.", [source]).sentences[0]
    assert swapped.verdict == CONTRADICTED
    assert swapped.evidence.text == "Эмбарго негативно отразилось на экономике США."
    for claim in ("Эмбарго негативно отразилось на экономике США.", "Поставки нефти прекратил Иран."):
        assert check_answer(claim, [source]).sentences[0].verdict == SUPPORTED
