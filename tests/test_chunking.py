"""Chunking: token budgets, overlap, spans and whole lines."""

from index.chunking import chunk_text, split_units


def words(texts):
    return [len(t.split()) for t in texts]


def test_units_are_lines_and_sentences():
    text = "Первая строка стиха,\nВторая строка.\n\nОдно предложение. Второе! «Третье?» Т. е. нет."
    units = [text[a:b] for a, b in split_units(text)]
    assert units == ["Первая строка стиха,", "Вторая строка.", "Одно предложение.", "Второе!",
                     "«Третье?»", "Т. е. нет."]


def test_chunks_respect_budget_spans_and_overlap():
    text = " ".join(f"Предложение номер {i} здесь." for i in range(40))
    chunks = chunk_text(text, words, max_tokens=20, overlap=8)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.tokens <= 20
        assert text[chunk.start:chunk.end] == chunk.text
    for before, after in zip(chunks, chunks[1:]):
        assert after.start < before.end, "consecutive chunks overlap"
        assert after.start > before.start, "chunking makes progress"
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_poem_lines_are_never_cut():
    lines = [f"Строка {i} о морозе и солнце" for i in range(30)]
    text = "\n".join(lines)
    for chunk in chunk_text(text, words, max_tokens=18, overlap=6):
        for line in chunk.text.split("\n"):
            assert line in lines


def test_overlong_sentence_is_split_at_spaces():
    text = " ".join(["слово"] * 100)
    chunks = chunk_text(text, words, max_tokens=30, overlap=0)
    assert all(c.tokens <= 30 for c in chunks)
    assert sum(c.tokens for c in chunks) == 100
    assert all(not c.text.startswith(" ") and "лово сл" not in c.text[:1] for c in chunks)


def test_empty_text_gives_no_chunks():
    assert chunk_text("  \n\n ", words) == []


def test_a_text_on_one_huge_line_is_tokenized_in_pieces_that_pack_into_full_chunks():
    text = " ".join(f"слово{i % 10}" for i in range(60_000))  # 420 KB, one line, no sentence end
    seen: list[int] = []

    def counting(texts):
        seen.append(max(len(t) for t in texts))
        return words(texts)

    chunks = chunk_text(text, counting, max_tokens=50, overlap=0)
    assert max(seen) <= 50 * 8  # the tokenizer never sees the whole line
    assert all(c.tokens <= 50 for c in chunks) and sum(c.tokens for c in chunks) == 60_000
    assert len(chunks) <= 60_000 / 50 / 0.8  # pieces fill chunks to at least 80%
    assert all(text[c.start:c.end] == c.text for c in chunks)
