"""BLEU, ROUGE-1/2/L and METEOR for Russian, checked against the reference libraries.

ROUGE against rouge-score and METEOR against nltk, on English (where both
tokenizers agree) and on Russian with the same tokenizer and stemmer given
to the reference library; BLEU and chrF++ against sacrebleu.  What
rouge-score's own tokenizer does to Russian is asserted as it is.
"""

import json
import random

import pytest

from assistant.errors import SettingsError
from assistant.evals.gen_metrics import (
    chunks,
    gen_scores,
    lcs_length,
    meteor,
    rouge_l,
    rouge_n,
    russian_stem,
    words,
)
from tests.conftest import one_line_error

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer", reason="rouge-score (test extra)")
nltk_meteor = pytest.importorskip("nltk.translate.meteor_score", reason="nltk (test extra)")

ENGLISH = [
    ("the cat sat on the mat", "the cat is sitting on the mat"),
    ("The quick brown fox jumps over the lazy dog.", "A quick brown dog jumps over the lazy fox!"),
    ("running runs ran runner", "the runner was running and runs"),
    ("It is a guide to action which ensures that the military always obeys the commands",
     "It is a guide to action that ensures that the military will forever heed Party commands"),
    ("a a a b b", "a b a b a b"),
    ("", "something"),
    ("completely different words", "nothing shared here"),
    ("Numbers 1712 and 42, words_with_underscores", "numbers 42 and 1712 words with underscores"),
]
RUSSIAN = [
    ("Белеет парус одинокий в тумане моря голубом", "Белеет парус одинокий в тумане моря голубом"),
    ("Парусом белеет одиноким в тумане морском", "Белеет парус одинокий в тумане моря голубом"),
    ("Петербург основан Петром в 1703 году", "Город основал Пётр Первый в 1703 году"),
    ("Мороз и солнце; день чудесный!", "Мороз и солнце, день чудесный, ещё ты дремлешь"),
    ("Ночь, улица, фонарь, аптека", "Белеет парус одинокий"),
]


class NoWordNet:
    """A WordNet with no synsets: nltk's METEOR without its synonym stage."""

    def synsets(self, word):
        return []


class Tokenizer:
    """rouge-score's tokenizer interface over our words()."""

    def tokenize(self, text):
        return words(text)


class SnowballRussian:
    """nltk's stemmer interface over our Snowball Russian stems."""

    def stem(self, word):
        return russian_stem(word)


def reference_rouge(hypothesis, reference, tokenizer=None):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=tokenizer)
    scores = scorer.score(reference, hypothesis)  # rouge-score takes the target first
    return [scores[name].fmeasure for name in ("rouge1", "rouge2", "rougeL")]


def our_rouge(hypothesis, reference):
    hyp, ref = words(hypothesis), words(reference)
    return [rouge_n(hyp, ref, 1), rouge_n(hyp, ref, 2), rouge_l(hyp, ref)]


def reference_meteor(hyp_tokens, ref_tokens, stemmer):
    return nltk_meteor.meteor_score([ref_tokens], hyp_tokens, stemmer=stemmer, wordnet=NoWordNet())


def random_pairs(vocabulary, count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        yield ([rng.choice(vocabulary) for _ in range(rng.randint(0, 12))],
               [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))])


# ----- ROUGE ---------------------------------------------------------------------------------
@pytest.mark.parametrize("hypothesis,reference", ENGLISH)
def test_rouge_equals_rouge_score_on_english(hypothesis, reference):
    assert our_rouge(hypothesis, reference) == pytest.approx(
        reference_rouge(hypothesis, reference), abs=1e-9)


def test_rouge_equals_rouge_score_on_random_token_strings():
    for hyp, ref in random_pairs(["a", "b", "c", "d", "e"], 300, seed=7):
        hypothesis, reference = " ".join(hyp), " ".join(ref)
        assert our_rouge(hypothesis, reference) == pytest.approx(
            reference_rouge(hypothesis, reference), abs=1e-9)


@pytest.mark.parametrize("hypothesis,reference", RUSSIAN)
def test_rouge_equals_rouge_score_given_our_tokenizer_on_russian(hypothesis, reference):
    assert our_rouge(hypothesis, reference) == pytest.approx(
        reference_rouge(hypothesis, reference, Tokenizer()), abs=1e-9)


def test_rouge_scores_default_tokenizer_drops_russian_words():
    from rouge_score.tokenize import tokenize

    # only [a-z0-9] survive: a Russian sentence is reduced to its digits, or to nothing
    assert tokenize("Петербург основан в 1703 году", None) == ["1703"]
    assert tokenize("Белеет парус одинокий", None) == []
    assert words("Петербург основан в 1703 году") == ["петербург", "основан", "в", "1703", "году"]
    # identical Russian text scores 0: nothing is left to match
    same = "Белеет парус одинокий в тумане моря голубом"
    assert reference_rouge(same, same) == [0.0, 0.0, 0.0]
    assert our_rouge(same, same) == [1.0, 1.0, 1.0]
    # two different sentences that share a year score 1: the year is all that is left
    hypothesis, reference = "Петербург основан в 1703 году", "Москва сгорела в 1703 году"
    assert reference_rouge(hypothesis, reference) == [1.0, 0.0, 1.0]
    assert our_rouge(hypothesis, reference) == pytest.approx([0.6, 0.5, 0.6])


def test_words_fold_case_and_yo_and_split_underscores():
    assert words("Ёлка_Зелёная, ЁЖ! x2") == ["елка", "зеленая", "еж", "x2"]


def test_lcs_length():
    assert lcs_length("abcbdab", "bdcaba") == 4
    assert lcs_length([], ["a"]) == 0


# ----- METEOR --------------------------------------------------------------------------------
@pytest.mark.parametrize("hypothesis,reference", ENGLISH)
def test_meteor_equals_nltk_without_wordnet_on_english(hypothesis, reference):
    from nltk.stem.porter import PorterStemmer

    porter = PorterStemmer()
    hyp, ref = words(hypothesis), words(reference)
    assert meteor(hyp, ref, porter.stem) == pytest.approx(
        reference_meteor(hyp, ref, porter), abs=1e-6)


def test_meteor_equals_nltk_on_random_token_strings():
    from nltk.stem.porter import PorterStemmer

    porter = PorterStemmer()
    vocabulary = ["run", "runs", "running", "cat", "cats", "the", "a", "sat"]
    for hyp, ref in random_pairs(vocabulary, 300, seed=11):
        assert meteor(hyp, ref, porter.stem) == pytest.approx(
            reference_meteor(hyp, ref, porter), abs=1e-6)


@pytest.mark.parametrize("hypothesis,reference", RUSSIAN)
def test_meteor_equals_nltk_with_snowball_russian(hypothesis, reference):
    hyp, ref = words(hypothesis), words(reference)
    assert meteor(hyp, ref) == pytest.approx(reference_meteor(hyp, ref, SnowballRussian()),
                                             abs=1e-6)


def test_meteor_matches_russian_word_forms_by_stem():
    hyp, ref = words("Белеет парусом одиноким"), words("Белеет парус одинокий")
    assert rouge_n(hyp, ref, 1) == pytest.approx(1 / 3)  # only 'белеет' is the same form
    # all three match (парус, одинок by stem) in one chunk: Fmean 1, penalty 0.5 * (1/3)^3
    assert meteor(hyp, ref) == pytest.approx(1 - 0.5 * (1 / 3) ** 3)
    # without stems only 'белеет': Fmean 1/3, one chunk of one match, penalty 0.5
    assert meteor(hyp, ref, stem=lambda word: word) == pytest.approx(1 / 6)


def test_chunks():
    assert chunks([(0, 0), (1, 1), (2, 2)]) == 1
    assert chunks([(0, 1), (1, 0), (2, 2)]) == 3


# ----- BLEU and chrF++, corpus figures ---------------------------------------------------------
def test_bleu_and_chrf_are_sacrebleus():
    from sacrebleu.metrics import BLEU, CHRF

    hyps, refs = [h for h, _ in RUSSIAN], [r for _, r in RUSSIAN]
    scores = gen_scores(hyps, refs)
    assert scores.bleu == round(BLEU(tokenize="intl").corpus_score(hyps, [refs]).score, 2)
    assert scores.chrf == round(CHRF(word_order=2).corpus_score(hyps, [refs]).score, 2)
    assert scores.n == 5 and 0 < scores.meteor < 100
    assert scores.rouge_1 == pytest.approx(
        100 * sum(our_rouge(h, r)[0] for h, r in RUSSIAN) / 5, abs=0.005)


def test_bleu_tokenizer_splits_russian_quotes():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_intl import TokenizerV14International

    # '13a' keeps Cyrillic words but leaves «» on them; 'intl' (used here) splits them off
    assert Tokenizer13a()("«Белеет парус»,") == "«Белеет парус» ,"
    assert TokenizerV14International()("«Белеет парус»,") == "« Белеет парус » ,"
    assert gen_scores(["«Белеет парус»"], ["Белеет парус"]).bleu > 0


def test_identical_and_unrelated_texts():
    same = gen_scores(["Белеет парус одинокий"], ["Белеет парус одинокий"])
    assert (same.chrf, same.rouge_1, same.rouge_2, same.rouge_l) == (100.0, 100.0, 100.0, 100.0)
    assert same.meteor == pytest.approx(100 * (1 - 0.5 * (1 / 3) ** 3), abs=0.005)
    unrelated = gen_scores(["Ночь улица фонарь аптека"], ["Белеет парус одинокий"])
    assert (unrelated.rouge_1, unrelated.rouge_l, unrelated.meteor, unrelated.bleu) == (0, 0, 0, 0)


def test_counts_must_agree():
    with pytest.raises(SettingsError, match="2 hypotheses but 1 references"):
        gen_scores(["a", "b"], ["a"])
    with pytest.raises(SettingsError, match="no segments"):
        gen_scores([], [])


# ----- the command ---------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("Белеет парус одинокий\nПетербург основан в 1703 году\n", encoding="utf-8")
    ref.write_text("Белеет парус одинокий\nГород основал Пётр в 1703 году\n", encoding="utf-8")
    return hyp, ref


def test_cli_prints_the_five_figures(run, files):
    code, out, err = run("eval", "gen", "--hyp", files[0], "--ref", files[1])
    assert code == 0, err
    expected = gen_scores(*(f.read_text(encoding="utf-8").splitlines() for f in files))
    assert out.strip() == f"{expected.line()}  over 2 segments"
    for title in ("chrF++", "BLEU", "ROUGE-1", "ROUGE-2", "ROUGE-L", "METEOR"):
        assert title in out


def test_cli_json(run, files):
    code, out, err = run("eval", "gen", "--hyp", files[0], "--ref", files[1], "--json")
    assert code == 0, err
    report = json.loads(out)
    expected = gen_scores(*(f.read_text(encoding="utf-8").splitlines() for f in files))
    assert {k: v for k, v in report.items() if k != "definitions"} == expected.to_dict()
    assert report["n"] == 2 and "intl" in report["definitions"]["bleu"]


def test_cli_one_line_errors(run, files, tmp_path):
    hyp, ref = files
    longer = tmp_path / "longer.txt"
    longer.write_text("один\nдва\nтри\n", encoding="utf-8")
    empty, binary = tmp_path / "empty.txt", tmp_path / "data.bin"
    empty.write_text("", encoding="utf-8")
    binary.write_bytes(b"\x00\x01\x02 text\n\xff\xfe")
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"abc\x00def\nghi\n")
    cases = [((hyp, longer), "2 hypotheses but 3 references"),
             ((empty, empty), "no segments"),
             ((tmp_path / "missing.txt", ref), "no such file"),
             ((binary, ref), "UTF-8"),
             ((nul, ref), "not a text file")]
    for (h, r), message in cases:
        line = one_line_error(*run("eval", "gen", "--hyp", h, "--ref", r)[::2])
        assert message in line, line
