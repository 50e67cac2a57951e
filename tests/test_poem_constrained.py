"""Form-constrained verse: the form asked for, each line judged, lines resampled until they
keep the form (a scripted generator stands in for the model), and the form on the result."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace

import pytest

from assistant.errors import SettingsError
from assistant.poetry.constrained import LINE_TRIES, FormStream
from assistant.poetry.constrained_form import (
    DEFAULT_FORM,
    DominantForm,
    VerseForm,
    dominant_form,
    parse_metre,
    parse_scheme,
    quatrains,
    request_form,
)
from assistant.poetry.constrained_lines import (
    SUPPLY_OK,
    StanzaLine,
    analysis_agrees,
    expected_scheme,
    is_verse,
    judge,
    marked_lines,
    verse_of,
)
from assistant.poetry.metre import METRES
from assistant.runtime.generation import GenerationStats
from assistant.runtime.presets import PRESETS
from tests.poems import BLOK, BURYA

IAMB = next(m for m in METRES if m.name == "ямб")
TROCHEE = next(m for m in METRES if m.name == "хорей")


# ----- the form asked for ----------------------------------------------------------------
def test_schemes_and_metres_by_name():
    assert parse_scheme("abab") == "ABAB" and parse_scheme("CDCD") == "ABAB"
    assert parse_scheme("-a-a") == "-A-A" and parse_scheme("auto") is None
    assert parse_metre("iamb") == "ямб" and parse_metre("Хорей") == "хорей"
    assert parse_metre("anapest") == parse_metre("anapaest") == "анапест"
    assert parse_metre(None) is None and parse_metre(" AUTO ") is None
    for bad in ("AB1B", "----", "A", "x" * 20):
        with pytest.raises(SettingsError, match="unknown rhyme scheme"):
            parse_scheme(bad)
    with pytest.raises(SettingsError, match="unknown metre 'gallop'"):
        parse_metre("gallop")


def test_long_stanzas_count_as_quatrains_when_no_rhyme_crosses_a_cut():
    assert quatrains("ABABCDCD") == ["ABAB", "ABAB"]
    assert quatrains("AABBCCDD") == ["AABB", "AABB"]
    assert quatrains("ABCABC") == [] and quatrains("ABCDABCD") == []  # rhymes cross the cut


def test_auto_takes_the_authors_form_and_says_when_it_falls_back():
    known = DominantForm("AABB", "хорей", 4, poems=7, schemes=frozenset({"AABB"}))
    auto = request_form("auto", "auto", None, None, "Пушкин", known)
    assert auto.form == VerseForm("AABB", "хорей", 4) and not auto.notes
    assert auto.source == "the author's poems"

    none = request_form(None, None, None, 2, "Гомер", None)
    assert none.form == DEFAULT_FORM and none.stanzas == 2 and none.source == "default"
    assert all("no poems by Гомер indexed" in n and "default" in n for n in none.notes)

    unused = request_form("ABBA", "iamb", 5, None, "Пушкин", known)
    assert unused.form == VerseForm("ABBA", "ямб", 5) and unused.source == "requested"
    assert unused.notes == ("Пушкин's indexed poems never use ABBA; writing it anyway",)
    with pytest.raises(SettingsError, match="--feet"):
        request_form(None, None, 0, None, "Пушкин", known)


def test_dominant_form_of_known_poems(stress_model):
    found = dominant_form([BLOK, BURYA, BLOK])
    assert (found.scheme, found.metre, found.feet, found.poems) == ("ABAB", "ямб", 4, 3)
    assert dominant_form(["  "]).scheme is None


# ----- one line judged ----------------------------------------------------------------
def _stanza(*lines: tuple[str, str]) -> list[StanzaLine]:
    from assistant.poetry.rhyme import line_ending

    verses = [verse_of(m) for m in marked_lines([text for _, text in lines])]
    return [StanzaLine(letter, line_ending(v)) for (letter, _), v in zip(lines, verses)]


def _judge(text: str, letter: str, stanza, metre=IAMB, feet=4):
    [marked] = marked_lines([text])
    return judge(text, verse_of(marked), letter, stanza, metre, feet)


def test_a_line_keeps_the_form_when_it_rhymes_with_its_partner_only(stress_model):
    stanza = _stanza(("A", "Ночь, улица, фонарь, аптека,"), ("B", "Бессмысленный и тусклый свет."))
    kept = _judge("Живи еще хоть четверть века —", "A", stanza)
    assert kept.ok and kept.rhyme_misses == 0 and kept.feet == 4
    assert _judge("Живи еще хоть четверть века —", "B", stanza).rhyme_misses == 2
    assert not _judge("Живи еще хоть много лет", "A", stanza).ok  # rhymes with B instead
    assert _judge("Живи еще хоть четверть века —", "A", stanza, TROCHEE).metre_ok is False
    assert not _judge("Живи еще хоть четверть века —", "A", stanza, feet=5).ok
    same = _stanza(("A", "Ночь, улица, фонарь, аптека,"))
    assert _judge("Ещё одна аптека", "A", same).rhyme_misses == 1  # a word is no rhyme to itself


# ----- the poem written line by line ---------------------------------------------------
EOS = None  # in a script: the model ends (an empty string is a blank line)


class ScriptedGenerator:
    """Stands in for a model on a server (no distribution to choose words from): each
    stream yields the next scripted text up to its newline (EOS: ends at once); records
    the prompts it was given."""

    def __init__(self, texts: list[str]):
        self.texts = list(texts)
        self.prompts: list[str] = []
        self.loaded = SimpleNamespace(model=None, is_seq2seq=False)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt: str, preset, cancel=None):
        self.prompts.append(prompt)
        text = self.texts.pop(0) if self.texts else EOS
        stats = GenerationStats(prompt_tokens=len(prompt.split()),
                                new_tokens=len((text or "").split()),
                                stopped_by="eos" if text is EOS else "stop string")
        text = text or ""
        return _Stream(text, stats)


class _Stream:
    def __init__(self, text: str, stats: GenerationStats):
        self.text, self.stats = text, stats

    def __iter__(self):
        yield self.text


def _form_stream(texts, scheme="ABAB", stanzas=None, metre="ямб", feet=4, preset=None,
                 generator=None):
    generator = generator or ScriptedGenerator(texts)
    request = request_form(scheme, metre, feet, stanzas, "Блок", None)
    return generator, FormStream(generator, "PROMPT\n", preset or PRESETS["poem"], request,
                                 seed=1)


def test_lines_that_break_the_form_are_sampled_again(stress_model):
    generator, stream = _form_stream([
        "Ночь, улица, фонарь, аптека,", "Бессмысленный и тусклый свет.",
        "Живи еще хоть много лет",  # rhymes with B where A is due: sampled again
        "Живи еще хоть четверть века —", "Все будет так. Исхода нет.",
        "###Конец"], stanzas=None)
    pieces = list(stream)
    assert pieces == ["Ночь, улица, фонарь, аптека,", "\nБессмысленный и тусклый свет.",
                      "\nЖиви еще хоть четверть века —", "\nВсе будет так. Исхода нет."]
    assert stream.stats.stopped_by == "stop string"  # the end marker after the stanza
    # Each prompt is the poem prompt and the lines kept so far: the rejected one is not there.
    assert generator.prompts[3] == ("PROMPT\nНочь, улица, фонарь, аптека,\n"
                                    "Бессмысленный и тусклый свет.\n")
    report = stream.report()
    assert report["requested"] == {"scheme": "ABAB", "metre": "ямб", "feet": 4, "stanzas": None}
    assert report["achieved"]["rhyme_scheme"] == "ABAB" and report["scheme_kept"]
    assert report["lines_in_form"] == 4 and report["samples"] == 6
    assert report["lines_rhymed"] == report["lines_in_metre"] == 4
    assert "asked ABAB, ямб 4-foot" in stream.note() and "wrote ABAB" in stream.note()
    assert "of 4 lines 4 rhyme as asked, 4 scan, 4 both" in stream.note()


def test_tries_are_bounded_and_the_best_line_is_kept(stress_model):
    # Never a rhyme for the third line: after LINE_TRIES samples the best one stays.
    lines = ["Ночь, улица, фонарь, аптека,", "Бессмысленный и тусклый свет."]
    lines += ["Бессмысленный и тусклый дом"] * LINE_TRIES + ["Все будет так. Исхода нет."]
    _, stream = _form_stream(lines, stanzas=1)
    text = "".join(stream)
    assert text.splitlines()[2] == "Бессмысленный и тусклый дом"
    assert stream.stats.stopped_by == "stanzas" and len(text.splitlines()) == 4
    assert stream.report()["lines_in_form"] < 4 and not stream.report()["scheme_kept"]
    # «дом» rhymes with nothing, and the last line, though it rhymes with «свет», is judged
    # with the stanza's analysis, which finds no ABAB with «дом» in it
    assert stream.report()["lines_rhymed"] == 2


def test_a_chosen_last_word_the_model_follows_with_another_word_may_end_the_line(stress_model):
    written = ["Ночь, улица, фонарь, аптека,", "Бессмысленный и тусклый свет."]
    stanza = _stanza(("A", written[0]), ("B", written[1]))

    def finish(after: str):
        _, stream = _form_stream([after])
        stream.stanzas.append(list(written))
        return stream._finish_tail("", "Живи еще хоть четверть", "века", "A", stanza)

    kept = finish(" — и")  # the model writes on with a dash and another word
    assert kept is not None and kept.text == "Живи еще хоть четверть века" and kept.ok
    assert finish("ми,") is None  # «векАМИ»: the chosen word was a piece of a longer one
    assert finish(", и").text == "Живи еще хоть четверть века,"


def test_a_stanza_break_and_a_stanza_count(stress_model):
    first = BLOK.split("\n\n")[0].splitlines()
    second = BLOK.split("\n\n")[1].splitlines()
    _, stream = _form_stream(first + [""] + second + ["never asked for"], stanzas=2)
    assert "".join(stream) == BLOK.replace("ё", "е")
    assert stream.stats.stopped_by == "stanzas"
    assert stream.report()["achieved"]["rhyme_scheme"] == "ABAB ABAB"


def test_the_token_budget_ends_a_poem_on_a_whole_stanza(stress_model):
    first, second = (part.splitlines() for part in BLOK.split("\n\n"))
    script = first + [""] + second + [""] + first + [""] + second
    counter = ScriptedGenerator([])
    one = counter.count_tokens("\n".join(first) + "\n")  # the longer stanza, as the first
    assert one >= counter.count_tokens("\n".join(second) + "\n")
    # A budget that a second stanza as long as the first would overrun, and one it fits.
    for budget, stanzas in ((2 * one - 1, 1), (2 * one, 2)):
        preset = PRESETS["poem"].with_overrides(max_new_tokens=budget)
        _, stream = _form_stream(script, preset=preset)
        text = "".join(stream)
        assert [len(s) for s in stream.stanzas] == [4] * stanzas
        assert counter.count_tokens(text) <= budget and stream.stats.stopped_by == "max tokens"


class EndingGenerator:
    """A real (tiny) model whose every sampled new line after ``lines`` ends the poem: the end
    marker, as a model that would end in the middle of a stanza writes it."""

    def __init__(self, generator, lines: list[str]):
        self.real, self.lines = generator, list(lines)
        self.loaded, self.prompt_cache = generator.loaded, generator.prompt_cache

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)

    def stream(self, prompt: str, preset, cancel=None):
        if not prompt.endswith("\n"):  # within a line: the model writes on
            return self.real.stream(prompt, preset, cancel)
        text = self.lines.pop(0) if self.lines else "###"
        return _Stream(text, GenerationStats(stopped_by="stop string"))


def test_a_stanza_the_model_would_end_unfinished_is_finished(stress_model, tiny_models):
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model

    tiny = Generator(load_model(tiny_models["llama"], "tiny"))
    lines = BLOK.splitlines()[:2]
    _, stream = _form_stream([], generator=EndingGenerator(tiny, lines))
    stream._lexicon = None  # the tiny vocabulary has no rhymes: Блок's first lines stay
    text = "".join(stream)
    assert text.splitlines()[:2] == lines and len(text.splitlines()) == 4
    assert [len(s) for s in stream.stanzas] == [4] and stream.report()["lines"] == 4
    # The model ends the poem at the next stanza: then it ends, on the whole stanza.
    assert stream.stats.stopped_by == "stop string"


class ProseGenerator(EndingGenerator):
    """The same tiny model whose every sampled new line after ``lines`` is prose (a date)."""

    def stream(self, prompt: str, preset, cancel=None):
        if not prompt.endswith("\n") or self.lines:
            return super().stream(prompt, preset, cancel)
        return _Stream("21 мая 1869 года", GenerationStats(stopped_by="stop string"))


def test_where_the_model_writes_only_prose_a_line_is_begun_on_a_word(stress_model, tiny_models):
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model

    tiny = Generator(load_model(tiny_models["llama"], "tiny"))
    lines = BLOK.splitlines()[:2]
    _, stream = _form_stream([], generator=ProseGenerator(tiny, lines), stanzas=1)
    stream._lexicon = None
    kept = "".join(stream).splitlines()
    assert kept[:2] == lines and len(kept) == 4
    assert not any("1869" in line for line in kept)  # the date was never kept as a line
    assert stream.report()["prose_refused"] >= 2


def test_a_model_that_only_ends_ends_the_poem(stress_model):
    _, stream = _form_stream([EOS] * 10)
    assert list(stream) == [] and stream.stats.stopped_by == "eos"
    assert stream.report()["achieved"]["lines"] == 0 and not stream.report()["scheme_kept"]


def test_cancel_stops_between_lines(stress_model):
    generator, stream = _form_stream(BLOK.splitlines())
    stream.cancel = threading.Event()
    pieces = iter(stream)
    next(pieces)
    stream.cancel.set()
    assert list(pieces) == [] and stream.stats.stopped_by == "cancelled"


# ----- the last word chosen -------------------------------------------------------------
def test_a_last_word_may_rhyme_by_its_letters_before_it_is_stressed():
    from assistant.poetry.constrained_tail import may_rhyme, split_last_word

    assert may_rhyme("века", ["аптека"]) and may_rhyme("тишине", ["вышине"])
    assert not may_rhyme("аптека", ["аптека"]) and not may_rhyme("свет", ["аптека"])
    assert split_last_word("Ночь, улица, фонарь, аптека,") == ("Ночь, улица, фонарь,", "аптека", ",")
    assert split_last_word("Аптека!") is None and split_last_word("1903") is None


def test_next_words_reads_the_whole_vocabulary_and_reuses_the_prompt(tiny_models):
    from assistant.poetry.constrained_tail import next_words
    from assistant.runtime.generation import Generator
    from assistant.runtime.loading import load_model

    generator = Generator(load_model(tiny_models["llama"], "tiny"))
    prompt = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг"
    words = next_words(generator, prompt, lambda word: True)
    assert words and all(re.fullmatch("[а-яё]+", w.word) for w in words)
    assert [w.logprob for w in words] == sorted((w.logprob for w in words), reverse=True)
    picky = next_words(generator, prompt, lambda word: word.endswith("а"))
    assert all(w.word.endswith("а") for w in picky)
    if generator.prompt_cache is not None:  # the prompt's keys stay for the next line
        ids = generator.loaded.tokenizer(prompt)["input_ids"]
        assert generator.prompt_cache.cached_tokens >= len(ids) - 1


def test_a_line_of_unknown_stress_is_never_accepted_at_once_but_may_be_the_best():
    from assistant.poetry.constrained_lines import UNKNOWN_METRE
    from assistant.poetry.verse import Verse, Word

    unknown = Verse((Word("глокая", None), Word("куздра", None)))  # stress the model cannot give
    verdict = judge("Глокая куздра", unknown, "A", [], IAMB, 4)
    assert verdict.metre_ok is None and not verdict.ok and verdict.penalty == UNKNOWN_METRE
    assert judge("Глокая куздра", unknown, "A", [], None, None).ok  # no metre asked: no matter


# ----- the rhymes the model can write, verse only, and the analysis agreeing -------------
def test_a_lexicon_counts_the_rhymes_of_an_ending_by_the_rhyme_judge(stress_model):
    from assistant.poetry.constrained_rhymes import RhymeLexicon
    from assistant.poetry.rhyme import line_ending

    lexicon = RhymeLexicon(["века", "человека", "аптека", "свет", "нет", "лет", "ответ",
                            "дом", "поэт", "берет"])
    [apteka, svet] = [line_ending(verse_of(m)) for m in marked_lines(["аптека", "свет"])]
    assert set(lexicon.rhymes(apteka)) == {"века", "человека"}  # not itself
    assert {"нет", "лет", "ответ", "поэт"} <= set(lexicon.rhymes(svet))
    assert lexicon.supply(apteka) == 2 and lexicon.letter_supply("аптека") == 2


def test_a_first_line_must_leave_its_partner_rhymes_enough(stress_model):
    def opening(supply):
        [marked] = marked_lines(["Ночь, улица, фонарь, аптека,"])
        return judge("Ночь, улица, фонарь, аптека,", verse_of(marked), "A", [], IAMB, 4,
                     opens=True, supply=lambda ending: supply)

    assert opening(SUPPLY_OK).ok
    assert opening(SUPPLY_OK - 1).rhyme_misses == 1  # a rare ending: resampled
    stanza = _stanza(("A", "Ночь, улица, фонарь, аптека,"))
    assert _judge("Живи еще хоть четверть века —", "A", stanza).ok  # a partner needs none


def test_only_verse_is_kept_as_a_line():
    assert is_verse("Ночь, улица, фонарь, аптека,")
    for prose in ("I. Л. В. ХОДСКОМУ", "1903 год", "The night is dark", "Ночь.", ""):
        assert not is_verse(prose)


def test_the_analysis_of_a_stanza_so_far_is_what_its_letters_ask(stress_model):
    assert expected_scheme("ABA") == "A-A" and expected_scheme("AB") == "--"
    assert expected_scheme("ABAB") == "ABAB" and expected_scheme("BAB") == "A-A"
    lines = BLOK.split("\n\n")[0].splitlines()
    assert analysis_agrees(lines[:3], "ABA") and analysis_agrees(lines, "ABAB")
    assert not analysis_agrees(lines[:3], "ABB")


def test_lines_that_are_not_verse_are_sampled_again(stress_model):
    lines = BLOK.split("\n\n")[0].splitlines()
    _, stream = _form_stream(["I. Л. В. ХОДСКОМУ", "12 марта 1903"] + lines, stanzas=1)
    assert "".join(stream) == "\n".join(lines).replace("ё", "е")
    assert stream.report()["prose_refused"] == 2 and stream.report()["scheme_kept"]
