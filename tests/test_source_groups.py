"""Sources a reader can weigh (assistant.source_groups): one entry per document, citations in
the documents' numbers, a relevance monotone in rank, the check's evidence located in passages."""

import random
import re

import pytest

from assistant.grounding import check_answer
from assistant.rag import Source, cited_numbers
from assistant.source_groups import evidence_span, group_sources, one_per_source
from index.fusion import fused_relevance, rrf

SPB_1 = ("Петербург основан в 1703 году Петром Первым.\nГород стоит на Неве, "
         "и в нём много мостов через реку и каналы.")
SPB_2 = "Город стоит на Неве, и в нём много мостов через реку и каналы. Зимой Нева замерзает."
SOURCES = [Source(1, "/docs/spb.md", "Петербург", "", SPB_1, 0.0328),
           Source(2, "/docs/moscow.txt", "Москва", "", "Москва — столица России.", 0.0161),
           Source(3, "/docs/spb.md", "Петербург", "", SPB_2, 0.0159),
           Source(4, "/docs/kazan.md", "Казань", "", "Казань стоит на Волге.", 0.0156)]


def marks(text):
    return [[int(n) for n in re.findall(r"\d+", m)] for m in re.findall(r"\[[\d ,]+\]", text)]


def test_two_chunks_of_one_file_are_one_entry_and_citations_follow():
    groups = group_sources(SOURCES)
    assert [(d.n, d.path, d.numbers) for d in groups.documents] == [
        (1, "/docs/spb.md", (1, 3)), (2, "/docs/moscow.txt", (2,)), (3, "/docs/kazan.md", (4,))]
    answer = "Основан в 1703 году [1]. Мосты [3]. Столица [2]; Волга [4]. Оба [1][3], [3, 1] и [1] [3]."
    shown = groups.renumber(answer)
    assert shown == "Основан в 1703 году [1]. Мосты [1]. Столица [2]; Волга [3]. Оба [1], [1] и [1]."
    # every mark shown names the document of the passage the model cited there
    for original, renumbered in zip(marks(answer), marks(shown)):
        assert renumbered == list(dict.fromkeys(groups.number[n] for n in original))
        assert all(n in groups.documents[d - 1].numbers for n in original for d in renumbered
                   if groups.number[n] == d)
    assert groups.cited(cited_numbers(answer, len(SOURCES))) == [1, 2, 3]
    # the passages the check reads are untouched
    assert [s.n for s in SOURCES] == [1, 2, 3, 4]


def test_overlapping_chunks_are_joined_without_repeating_the_overlap():
    [passage] = group_sources(SOURCES).documents[0].passages
    assert passage.numbers == (1, 3)
    assert passage.text.count("много мостов") == 1
    assert passage.text.startswith("Петербург основан") and passage.text.endswith("замерзает.")


def test_renumbering_a_stream_gives_the_same_text_wherever_it_is_cut():
    groups = group_sources(SOURCES)
    text = "Да [3][1]. Нет [ 2 ] [4, 3] и [1] [3]"
    whole = groups.renumber(text)
    for cut in range(len(text) + 1):
        for second in range(cut, len(text) + 1, 3):
            stream = groups.stream()
            out = [stream.feed(p) for p in (text[:cut], text[cut:second], text[second:])]
            assert "".join(out) + stream.close() == whole, (cut, second)


@pytest.mark.parametrize("answer, cited", [
    ("Ответа во фрагментах нет.", []),        # cites nothing
    ("Так сказано [9] и [0].", []),          # numbers beyond the sources: left as they are
    ("Так сказано [9, 2].", [2]),
])
def test_citations_that_name_no_source_are_kept_and_not_listed(answer, cited):
    groups = group_sources(SOURCES)
    shown = groups.renumber(answer)
    assert re.sub(r"\[[\d, ]+\]", "", shown) == re.sub(r"\[[\d, ]+\]", "", answer)
    assert "[9" in shown or "[9" not in answer
    assert groups.cited(cited_numbers(answer, len(SOURCES))) == cited


def test_sources_without_a_path_group_by_title_and_author_and_same_titles_stay_apart():
    sources = [Source(1, "", "Статья", "Иванов", "Первый абзац.", 0.03),
               Source(2, "", "Статья", "Петров", "Другой автор.", 0.02),
               Source(3, "", "Статья", "Иванов", "Второй абзац.", 0.02),
               Source(4, "", "", "", "Ничем не названный текст.", 0.01),
               Source(5, "", "", "", "Ещё один безымянный.", 0.01),
               Source(6, "/a/Статья.md", "Статья", "Иванов", "Файл с тем же названием.", 0.01),
               Source(7, "/b/Статья.md", "Статья", "Иванов", "Другой файл, то же название.", 0.01)]
    groups = group_sources(sources)
    assert [d.numbers for d in groups.documents] == [(1, 3), (2,), (4,), (5,), (6,), (7,)]
    assert groups.renumber("[3] [2] [5] [7]") == "[1] [2] [4] [6]"
    assert all(d.name for d in groups.documents)
    assert group_sources([]).renumber("[1][1]") == "[1][1]" and not group_sources([]).documents


def test_relevance_is_in_0_1_and_never_rises_down_the_list():
    rng = random.Random(7)
    for _ in range(50):
        ids = list(range(30))
        dense, lexical = (rng.sample(ids, rng.randint(1, 30)) for _ in range(2))
        fused = rrf([[(i, 0.0) for i in dense], [(i, 0.0) for i in lexical]])[:8]
        sources = [Source(n, f"/d/{cid}.txt", "", "", "т", score)
                   for n, (cid, score) in enumerate(fused, 1)]
        documents = group_sources(sources).documents
        values = [d.relevance for d in documents]
        assert [d.rank for d in documents] == sorted(d.rank for d in documents)
        assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values, reverse=True)
    assert fused_relevance(rrf([[(1, 0)], [(1, 0)]])[0][1]) == pytest.approx(1.0)
    assert fused_relevance(rrf([[(1, 0)], []])[0][1]) == pytest.approx(0.5)
    # a follow-up's earlier source (another search's score) kept in the last places
    late = [Source(1, "/a", "", "", "т", 0.02), Source(2, "/b", "", "", "т", 0.0328)]
    assert [d.relevance for d in group_sources(late).documents] == [pytest.approx(0.61)] * 2


def test_evidence_windows_are_located_in_the_passages():
    answer = "Петербург основан в 1703 году [1]. В городе много мостов [3]."
    report = check_answer(answer, SOURCES)  # facts and wording alone: no models
    assert [s.evidence is not None for s in report.sentences] == [True, True]
    groups = group_sources(SOURCES, report)
    found = [(h, p, d) for d in groups.documents for p in d.passages for h in p.highlights]
    assert sorted(h.claim for h, _, _ in found) == [0, 1]
    for highlight, passage, document in found:
        verdict = report.sentences[highlight.claim]
        assert verdict.evidence.n in passage.numbers and groups.number[verdict.evidence.n] == document.n
        # the window's words, whatever white space the passage has between them
        assert passage.text[highlight.start:highlight.end].split() == verdict.evidence.text.split()
        assert highlight.verdict == verdict.verdict
    assert all(not p.highlights for d in group_sources(SOURCES).documents for p in d.passages)


def test_evidence_span_tolerates_line_breaks_and_list_markers():
    passage = "Список:\n- Первый пункт.\n- Второй пункт."
    assert evidence_span(passage, "Первый пункт. Второй пункт.") == (10, passage.index("т.", 30) + 2)
    assert evidence_span(passage, "Третий пункт.") is None
    assert evidence_span(passage, "") is None


def test_style_examples_stay_one_per_poem():
    poems = [Source(1, "/p/pushkin.jsonl", "Зимнее утро", "Пушкин", "Мороз и солнце", 0.03),
             Source(2, "/p/pushkin.jsonl", "Зимняя дорога", "Пушкин", "Сквозь волнистые", 0.02)]
    assert [d.title for d in one_per_source(poems).documents] == ["Зимнее утро", "Зимняя дорога"]


def test_lira_ask_marks_the_evidence_in_plain_text():
    from assistant.cli.answer_output import evidence_lines

    report = check_answer("Петербург основан в 1703 году [1]. В городе много мостов [3].", SOURCES)
    lines = evidence_lines(group_sources(SOURCES, report))
    assert lines[0] == "Опора в источниках:" and len(lines) == 3
    assert lines[1].startswith("  1. [1] «Петербург основан в 1703 году Петром Первым.»")
    assert lines[2] == ("  2. [1] Петербург основан в 1703 году Петром Первым. «Город стоит на "
                        "Неве, и в нём много мостов через реку и каналы.» Зимой Нева замерзает.")
    assert evidence_lines(group_sources(SOURCES)) == []  # not checked: nothing to mark
