"""Form-constrained verse: a poem written line by line, each line kept only if it keeps the form.

Each line is sampled up to the newline; it is kept when it rhymes with its
partner lines and scans (assistant.poetry.constrained_lines).  Otherwise its
last word is chosen again among the model's likeliest words that would make
it keep the form (assistant.poetry.constrained_tail, local models only), or
the line is sampled again: LINE_TRIES lines in all, then the best line found
is kept.  Stanzas are the scheme's length; between them the model is asked
whether it goes on (a blank line or a new line) or ends (the end marker or
EOS), unless the requested stanza count ends the poem first.  Every prompt
is the poem prompt plus the lines kept so far, so the generator's prompt
cache re-encodes only the last line.

A FormStream is a text stream like generation.TextStream: iterating it
yields each line when it is kept; ``stats`` and ``report()`` describe it after.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from assistant.poetry.constrained_form import FormRequest
from assistant.poetry.constrained_lines import (
    StanzaLine,
    Verdict,
    judge,
    marked_lines,
    verse_of,
)
from assistant.poetry.constrained_tail import (
    can_choose_tails,
    may_rhyme,
    next_words,
    split_last_word,
)
from assistant.poetry.verse import Verse
from assistant.runtime.generation import GenerationStats
from assistant.runtime.presets import Preset

LINE_TOKENS = 32  # a verse line is rarely past 20 tokens; a runaway one is cut here
LINE_TRIES = 3  # lines sampled for one line of the poem before the best is kept
# From the second sampled line on, a line that rhymes as asked is kept even if it does
# not scan: the scheme matters more, and every further line costs a sample.
RHYME_ENOUGH_FROM = 1
TAIL_TRIES = 2  # chosen last words tried per sampled line
CONTINUATION_TOKENS = 3  # enough to see whether a chosen word goes on (a piece of a word)
MAX_STANZAS = 8  # without a stanza count or an end marker, the poem stops here
END, BLANK, LINE = "end", "blank", "line"
_PUNCTUATION = re.compile(r"[^\w\s#]*")


@dataclass
class Sample:
    """A sampled piece of text up to the newline, and what it was."""

    text: str
    kind: str  # END (the end marker, EOS), BLANK (an empty line) or LINE
    stopped_by: str


class FormStream:
    """The lines of a constrained poem as they are kept (see the module's docstring)."""

    def __init__(self, generator, prompt: str, preset: Preset, request: FormRequest,
                 cancel: threading.Event | None = None, seed: int | None = None):
        self.generator = generator
        self.prompt = prompt
        self.preset = preset
        self.request = request
        self.cancel = cancel or threading.Event()
        self.stats = GenerationStats()
        self.stanzas: list[list[str]] = []
        self.verdicts: list[Verdict] = []
        self.samples = 0
        self.tails_chosen = 0
        self._line_preset = replace(preset, stop=("\n",), max_new_tokens=LINE_TOKENS)
        self._random = random.Random(seed)
        self._tails = can_choose_tails(generator)
        self._report: dict | None = None

    @property
    def text(self) -> str:
        """The poem kept so far: lines, stanzas separated by blank lines."""
        return "\n\n".join("\n".join(stanza) for stanza in self.stanzas if stanza)

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        try:
            yield from self._poem(started)
        finally:
            self.stats.total_s = time.perf_counter() - started
            if self.cancel.is_set():
                self.stats.stopped_by = "cancelled"

    # ----- the poem ------------------------------------------------------------------------
    def _poem(self, started: float) -> Iterator[str]:
        context = ""  # the poem as the model reads it after the prompt
        scheme = self.request.form.scheme
        limit = self.request.stanzas or MAX_STANZAS
        self.stats.stopped_by = "stanzas"
        while len(self.stanzas) < limit and not self.cancel.is_set():
            first = None
            if self.stanzas:  # does the model go on after the last stanza?
                probe = self._sample(context)
                if probe.kind == END:
                    self.stats.stopped_by = probe.stopped_by
                    return
                context += "\n"  # a stanza break, whether or not the model wrote one
                first = probe if probe.kind == LINE else None
            self.stanzas.append([])
            stanza: list[StanzaLine] = []
            for letter in scheme:
                verdict, ended = self._line(context, letter, stanza, first)
                first = None
                if verdict is None:  # the model ended the poem whatever we sampled
                    self.stats.stopped_by = ended or "eos"
                    return
                yield self._keep(verdict, letter, stanza, started)
                context += verdict.text + "\n"
            if self.generator.count_tokens(context) >= self.preset.max_new_tokens:
                self.stats.stopped_by = "max tokens"  # checked after whole stanzas only
                return

    def _keep(self, verdict: Verdict, letter: str, stanza: list[StanzaLine],
              started: float) -> str:
        if self.stats.first_token_s is None:
            self.stats.first_token_s = time.perf_counter() - started
        stanza.append(StanzaLine(letter, verdict.ending))
        self.verdicts.append(verdict)
        current = self.stanzas[-1]
        current.append(verdict.text)
        if len(current) > 1:
            return "\n" + verdict.text
        return "\n\n" + verdict.text if len(self.stanzas) > 1 else verdict.text

    def _line(self, context: str, letter: str, stanza: list[StanzaLine],
              first: Sample | None) -> tuple[Verdict | None, str | None]:
        """The best line of LINE_TRIES (the first that keeps the form), or None and why
        the model ended, when every sample ended the poem."""
        best: Verdict | None = None
        ended = None
        for attempt in range(LINE_TRIES):
            if self.cancel.is_set():
                break
            sample = first if attempt == 0 and first is not None else self._sample(context)
            if sample.kind != LINE:
                ended = sample.stopped_by if sample.kind == END else ended
                continue
            for verdict in self._candidates(context, sample.text, letter, stanza):
                if best is None or verdict.penalty < best.penalty:
                    best = verdict
                if verdict.ok:
                    return verdict, None
            if best is not None and best.rhyme_misses == 0 and attempt >= RHYME_ENOUGH_FROM:
                break
        return best, ended

    def _candidates(self, context: str, text: str, letter: str,
                    stanza: list[StanzaLine]) -> Iterator[Verdict]:
        """The sampled line judged, then (if it fails) the same line with chosen last words."""
        [marked] = marked_lines([text])
        verdict = self._judge(text, verse_of(marked), letter, stanza)
        yield verdict
        if verdict.ok or not self._tails:
            return
        yield from self._chosen_tails(context, text, letter, stanza)

    def _judge(self, text: str, verse: Verse, letter: str, stanza: list[StanzaLine]) -> Verdict:
        form = self.request.form
        # The first line of a rhyme must end on a word a later line can rhyme with.
        opens = letter != "-" and letter not in (line.letter for line in stanza)
        return judge(text, verse, letter, stanza, form.metre_spec, form.feet, opens)

    def _chosen_tails(self, context: str, text: str, letter: str,
                      stanza: list[StanzaLine]) -> Iterator[Verdict]:
        """Lines with the sampled beginning and a chosen last word that rhymes with the
        partner lines (only lines that have one: a first rhyme is free)."""
        partners = [line.ending.word for line in stanza
                    if line.letter == letter != "-" and line.ending is not None]
        parts = split_last_word(text)
        if not partners or parts is None:
            return
        begin = parts[0]
        words = next_words(self.generator, self.prompt + context + begin,
                           lambda word: may_rhyme(word, partners))
        if not words:
            return
        marked = marked_lines([begin] + [w.word for w in words])
        start = verse_of(marked[0]).words
        rhyming = []
        for word, mark in zip(words, marked[1:]):
            verdict = self._judge(f"{begin} {word.word}", Verse(start + verse_of(mark).words),
                                  letter, stanza)
            if verdict.rhyme_misses == 0:
                rhyming.append((word, verdict.penalty))
        # The words that rhyme and scan best: the beginning's own metre faults stay.
        least = min((penalty for _, penalty in rhyming), default=None)
        fitting = [word for word, penalty in rhyming if penalty == least]
        for word in self._draw(fitting, TAIL_TRIES):
            finished = self._finish_tail(context, begin, word.word, letter, stanza)
            if finished is not None:
                yield finished

    def _draw(self, items: list, n: int) -> list:
        """Up to ``n`` of ``items`` (TailWords) drawn without replacement by probability: the
        model's own preference among the words that fit."""
        pool = list(items)
        chosen = []
        while pool and len(chosen) < n:
            weights = [math.exp(word.logprob) for word in pool]
            pick = self._random.choices(range(len(pool)), weights)[0]
            chosen.append(pool.pop(pick))
        return chosen

    def _finish_tail(self, context: str, begin: str, word: str, letter: str,
                     stanza: list[StanzaLine]) -> Verdict | None:
        """The line with ``word`` last, if the model does not take the word for the start
        of a longer one; with the punctuation the model puts after it."""
        line = f"{begin} {word}"
        after = self._sample(context + line, CONTINUATION_TOKENS).text
        if after[:1].isalpha():  # a piece of a word: judge what the model makes of it
            return None
        punctuation = _PUNCTUATION.match(after).group()
        [marked] = marked_lines([line])
        verdict = self._judge(line + punctuation, verse_of(marked), letter, stanza)
        if verdict.rhyme_misses:
            return None
        self.tails_chosen += 1
        return verdict

    def _sample(self, context: str, max_tokens: int | None = None) -> Sample:
        """One piece of text after the prompt and ``context``, up to the newline."""
        preset = self._line_preset
        if max_tokens is not None:
            preset = replace(preset, max_new_tokens=max_tokens)
        stream = self.generator.stream(self.prompt + context, preset, self.cancel)
        raw = "".join(stream)
        self.samples += 1
        self.stats.new_tokens += stream.stats.new_tokens
        if not self.stats.prompt_tokens:
            self.stats.prompt_tokens = stream.stats.prompt_tokens
        self.stats.reused_tokens += getattr(stream.stats, "reused_tokens", 0)
        # A server may not honour the stop string, and str.splitlines (which the analysis
        # uses) also breaks at \v, \f, \x1c-\x1e, \x85 and \u2028.
        text = (raw.splitlines() or [""])[0]
        stopped = stream.stats.stopped_by
        if text.lstrip().startswith("#") or (stopped == "eos" and not text.strip()):
            return Sample("", END, "stop string" if text.strip() else "eos")
        if not text.strip():
            return Sample("", BLANK, stopped)
        return Sample(text.split("#")[0].strip(), LINE, stopped)

    # ----- the result ----------------------------------------------------------------------
    def report(self) -> dict:
        """The requested and achieved form (analysed as `lira poem analyze` does), where the
        request came from, notes, and how the lines were found."""
        if self._report is not None:
            return self._report
        from assistant.poetry.form import EmptyPoem, analyze_poem

        form = self.request.form
        try:
            achieved = analyze_poem(self.text).to_dict()
        except EmptyPoem:
            achieved = {"lines": 0, "stanzas": 0, "rhyme_scheme": "", "metre": None, "feet": None}
        wanted_scheme = " ".join([form.scheme] * achieved["stanzas"])
        self._report = {
            "requested": form.to_dict() | {"stanzas": self.request.stanzas},
            "achieved": achieved,
            "scheme_kept": bool(achieved["stanzas"]) and achieved["rhyme_scheme"] == wanted_scheme,
            "metre_kept": achieved["metre"] == form.metre and (form.feet is None
                                                               or achieved["feet"] == form.feet),
            "source": self.request.source, "notes": list(self.request.notes),
            "lines_in_form": sum(v.ok for v in self.verdicts), "lines": len(self.verdicts),
            "samples": self.samples, "chosen_last_words": self.tails_chosen,
            "stopped_by": self.stats.stopped_by}
        return self._report

    def note(self) -> str:
        """One line for the user: the form asked for and the form written."""
        report = self.report()
        asked, got = report["requested"], report["achieved"]
        metre = (f"{asked['metre'] or 'any metre'}"
                 + (f" {asked['feet']}-foot" if asked["feet"] else ""))
        achieved_metre = (f"{got['metre']} {got['feet']}-foot" if got["metre"]
                          else "no clear metre")
        return (f"form: asked {asked['scheme']}, {metre} ({report['source']}); wrote "
                f"{got['rhyme_scheme'] or 'nothing'}, {achieved_metre}; "
                f"{report['lines_in_form']} of {report['lines']} lines in form")
