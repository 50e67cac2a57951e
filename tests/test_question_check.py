"""An answer judged as the answer to its question: the statement, its focus, the verdict."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adapters.registry import BUNDLED_DIR
from assistant.evals.answer_metrics import badge_figures
from assistant.grounding import SUPPORTED, check_answer
from assistant.grounding.claims import Claim, split_claims
from assistant.grounding.question_check import AnswerReading
from assistant.grounding.question_claim import question_claim
from assistant.grounding.scoring import WELL_SUPPORTED

# Two players, two figures: the wrong one occurs in the sources, about another subject.
SPORT = ("Джош Норман перехватил 56 мячей за сезон и остался в команде. "
         "Люк Кикли перехватил 88 мячей и стал лидером защиты. "
         "Стадион команды находится в Шарлотте и вмещает 75 тысяч зрителей.")


def statement(question: str, answer: str):
    return question_claim(question, split_claims(answer)[0])


@pytest.mark.parametrize("question,answer,text,focus", [
    ("Сколько мячей перехватил Джош Норман?", "88 [1]",
     "88 мячей перехватил Джош Норман.", "88"),
    ("В каком году был основан город?", "в 1703 году [2]", "В 1703 году был основан город.",
     "1703"),
    ("В каком году был основан город?", "1703", "В 1703 году был основан город.", "1703"),
    ("Кто основал Санкт-Петербург?", "Пётр Первый.", "Пётр Первый основал Санкт-Петербург.",
     "Пётр Первый"),
    ("Какой процент голосов получил Иванов?", "52,3%",
     "52,3% процент голосов получил Иванов.", "52,3%"),
    # an answer that restates the question is its own statement
    ("Сколько мячей перехватил Джош Норман?", "Джош Норман перехватил 56 мячей [1].",
     "Джош Норман перехватил 56 мячей.", "56"),
])
def test_statement_puts_the_answer_in_the_question_slot(question, answer, text, focus):
    made = statement(question, answer)
    assert made.claim.text == text
    assert made.focus == focus
    assert made.claim.cites == split_claims(answer)[0].cites


@pytest.mark.parametrize("question,answer", [
    ("Был ли Пётр Первый царём?", "Да, был [1]."),  # yes/no: no statement form
    ("Расскажите о городе.", "Город основан в 1703 году."),  # no question word
])
def test_questions_without_statement_form(question, answer):
    assert statement(question, answer) is None


@pytest.mark.parametrize("question,answer,focus", [
    ("Из скольких элементов состоял земной шар?", "четыре [1]", "четыре"),  # a stop word
    ("Какой национальности Хёсон Ли?", "кореец [1]", "кореец"),  # a name, not "ли"
    ("Насколько выросла температура?", "на 0,3°C [2]", "0,3°C"),
])
def test_number_words_names_and_degree_questions_have_statements(question, answer, focus):
    assert statement(question, answer).focus == focus


def test_an_answer_that_only_repeats_its_question_is_not_green():
    question = "Сколько мячей перехватил Джош Норман?"
    echo = "Мячи перехватил Джош Норман [1]."
    assert statement(question, echo).focus == ""
    report = check_answer(echo, [SPORT], question=question)
    assert report.sentences[0].verdict != SUPPORTED and report.score < WELL_SUPPORTED
    # checked as a sentence it would be green: the sources do say that
    assert check_answer(echo, [SPORT]).score >= WELL_SUPPORTED


def test_yes_no_question_falls_back_to_sentence_checks():
    plain = check_answer("Люк Кикли перехватил 88 мячей [1].", [SPORT])
    asked = check_answer("Люк Кикли перехватил 88 мячей [1].", [SPORT],
                         question="Перехватил ли Люк Кикли 88 мячей?")
    assert asked.to_dict(details=True) == plain.to_dict(details=True)


def test_a_figure_from_another_subject_is_not_green():
    question = "Сколько мячей перехватил Джош Норман?"
    right = check_answer("56 [1]", [SPORT], question=question)
    wrong = check_answer("88 [1]", [SPORT], question=question)
    assert right.sentences[0].verdict == SUPPORTED and right.score >= WELL_SUPPORTED
    assert wrong.sentences[0].verdict != SUPPORTED and wrong.score < WELL_SUPPORTED
    assert wrong.score < right.score
    assert "Джош Норман" in wrong.sentences[0].evidence.text  # the window about the subject
    # the same bare answer checked without its question is "supported": 88 is in the sources
    assert check_answer("88 [1]", [SPORT]).score == 1.0


def test_an_answer_of_the_wrong_kind_is_not_green():
    report = check_answer("75 тысяч [1]", [SPORT], question="Где находится стадион команды?")
    assert report.score < WELL_SUPPORTED
    assert check_answer("в Шарлотте [1]", [SPORT],
                        question="Где находится стадион команды?").score >= WELL_SUPPORTED


def test_later_sentences_are_checked_as_claims_and_weigh_on_the_score():
    question = "Сколько мячей перехватил Джош Норман?"
    alone = check_answer("56 [1]", [SPORT], question=question)
    followed = check_answer("56 [1]. Кошки спят на диване по шестнадцать часов в сутки.",
                            [SPORT], question=question)
    assert len(followed.sentences) == 2
    assert followed.sentences[1].verdict != SUPPORTED
    assert followed.score == pytest.approx(alone.score * followed.sentences[1].score)


def test_sources_in_another_language_get_a_verdict():
    report = check_answer("56 [1]", ["Josh Norman had four interceptions in 2015."],
                          question="Сколько мячей перехватил Джош Норман?")
    assert report.sentences[0].verdict != SUPPORTED


def test_badge_figures_by_hand():
    scores, f1s = [0.9, 0.85, 0.3, 0.95, 0.1], [1.0, 0.6, 0.0, 0.2, 0.4]
    figures = badge_figures(scores, f1s, 0.8)
    assert figures["right"] == 2 and figures["wrong"] == 3
    assert figures["wrong_green"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["right_green"] == 1.0
    # right (0.9, 0.85) against wrong (0.3, 0.95, 0.1): 4 of 6 pairs ordered right
    assert figures["roc_auc"] == pytest.approx(4 / 6, abs=1e-4)
    assert badge_figures([0.9], [1.0], 0.8)["roc_auc"] is None


def test_claim_is_kept_when_the_answer_has_no_citation():
    made = question_claim("Кто основал Санкт-Петербург?", Claim("Пётр Первый"))
    assert made.claim.text == "Пётр Первый основал Санкт-Петербург." and made.claim.cites == []


def test_the_chat_models_confidence_and_agreement_raise_the_score():
    question = "Сколько мячей перехватил Джош Норман?"
    sure = check_answer("56 [1]", [SPORT], question=question, reading=AnswerReading(-0.05))
    unsure = check_answer("56 [1]", [SPORT], question=question, reading=AnswerReading(-4.0))
    assert sure.score > unsure.score
    assert sure.sentences[0].signals.confidence == -0.05
    steady = check_answer("56 [1]", [SPORT], question=question,
                          reading=AnswerReading(-0.5, reordered=1.0))
    wavering = check_answer("56 [1]", [SPORT], question=question,
                            reading=AnswerReading(-0.5, reordered=0.1))
    assert steady.score > wavering.score
    assert wavering.sentences[0].signals.reordered == 0.1


def test_reordered_agreement_is_the_mean_over_the_passages_reversed_then_moved_round(
        tiny_models):
    from assistant.grounding.answer_overlap import token_f1
    from assistant.grounding.confidence import REORDERED, reordered_agreement
    from assistant.rag import Source, build_rag_prompt
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model

    generator = Generator(load_model(tiny_models["llama"], "tiny-llama", "cpu"))
    texts = ["Пётр основал город.", "Город стоит на Неве.", "Мост развели ночью."]
    passages = [Source(n, f"p{n}.txt", f"p{n}", "", text, 0.0) for n, text in enumerate(texts, 1)]
    prompts = []
    generate = generator.generate

    def recording(prompt, preset, cancel=None):
        prompts.append(prompt)
        return generate(prompt, preset, cancel)

    generator.generate = recording
    got = reordered_agreement(generator, "Кто основал город?", passages, "Пётр", count=2)

    def numbered(*order):  # the passages in this order, numbered again from 1
        return [Source(n, f"p{k}.txt", f"p{k}", "", texts[k - 1], 0.0)
                for n, k in enumerate(order, 1)]

    # reversed, then moved round by one (the first passage last); greedy, to the first line
    assert prompts == [build_rag_prompt("Кто основал город?", numbered(3, 2, 1)),
                       build_rag_prompt("Кто основал город?", numbered(2, 3, 1))]
    lines = [next((x for x in generate(p, REORDERED).text.splitlines() if x.strip()), "")
             for p in prompts]
    assert got == pytest.approx(sum(token_f1(line, ["Пётр"]) for line in lines) / 2)
    # the badge's default: the reversed order alone
    prompts.clear()
    assert reordered_agreement(generator, "Кто основал город?", passages, lines[0]) == \
        pytest.approx(1.0)
    assert prompts == [build_rag_prompt("Кто основал город?", numbered(3, 2, 1))]
    # one passage has no other order: nothing to compare
    assert reordered_agreement(generator, "Кто?", passages[:1], "Пётр") is None


def test_other_orders_are_distinct_and_never_the_passages_own():
    from assistant.grounding.confidence import other_orders
    from assistant.rag import Source

    passages = [Source(n, f"p{n}.txt", f"p{n}", "", f"текст {n}", 0.0) for n in range(1, 5)]
    labels = [[s.path for s in order] for order in other_orders(passages, 4)]
    assert labels == [["p4.txt", "p3.txt", "p2.txt", "p1.txt"],
                      ["p2.txt", "p3.txt", "p4.txt", "p1.txt"],
                      ["p3.txt", "p4.txt", "p1.txt", "p2.txt"],
                      ["p4.txt", "p1.txt", "p2.txt", "p3.txt"]]
    assert all([s.n for s in order] == [1, 2, 3, 4] for order in other_orders(passages, 4))
    # two passages have one other order (reversed is moved round by one), one has none
    assert [[s.path for s in o] for o in other_orders(passages[:2], 4)] == [["p2.txt", "p1.txt"]]
    assert other_orders(passages[:1], 4) == []
    assert len(other_orders(passages, 2)) == 2


def test_answer_log_prob_is_the_models_mean_token_log_prob(tiny_models):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.grounding.confidence import answer_log_prob, read_answer

    folder = tiny_models["gpt2"]
    loaded = SimpleNamespace(model=AutoModelForCausalLM.from_pretrained(folder).eval(),
                             tokenizer=AutoTokenizer.from_pretrained(folder), is_seq2seq=False)
    prompt, answer = "Вопрос: кто? Ответ:", "Пётр [1]"
    got = answer_log_prob(loaded, prompt, answer)
    ids = loaded.tokenizer(prompt)["input_ids"]
    steps = []
    for token in loaded.tokenizer(" " + answer, add_special_tokens=False)["input_ids"]:
        with torch.inference_mode():
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, -1]
        steps.append(float(logits.log_softmax(-1)[token]))
        ids.append(token)
    assert got == pytest.approx(sum(steps) / len(steps), abs=1e-4)
    # no log-probabilities from a seq2seq model, a model on a server or an empty answer
    assert answer_log_prob(SimpleNamespace(**{**vars(loaded), "is_seq2seq": True}),
                           prompt, answer) is None
    assert answer_log_prob(loaded, prompt, "  ") is None
    assert read_answer(SimpleNamespace(loaded=SimpleNamespace(name="openai:x")),
                       "Кто?", answer, [SPORT]) is None
    # the weights were fitted on the bundled chat model's log-probabilities: a tiny random
    # model's give no signal, unless it stands in for the calibrated one
    assert read_answer(SimpleNamespace(loaded=loaded), "Кто?", answer, [SPORT]) is None
    stand_in = SimpleNamespace(**vars(loaded), name="gemma-3-270m",
                               adapter=str(BUNDLED_DIR / "chat"))
    # over the passages reordered it answers the same (then more): they agree fully
    steady = SimpleNamespace(loaded=stand_in, generate=lambda prompt, preset: SimpleNamespace(
        text=" Пётр [2]\nи ещё строка"))
    reading = read_answer(steady, "Кто?", answer, [SPORT, "Пётр основал город."])
    assert reading.log_prob < 0 and reading.reordered == 1.0
    assert read_answer(steady, "Кто?", answer, [SPORT]).reordered is None
