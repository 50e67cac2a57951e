"""Form-constrained verse: a poem written line by line, each line kept only if it keeps the form.

Each line is sampled up to the newline; it is kept when it rhymes with its
partner lines and scans (assistant.poetry.constrained_lines).  Otherwise its
last word is chosen again among the model's likeliest words that would make
it keep the form (assistant.poetry.constrained_tail, local models only), or
the line is sampled again: LINE_TRIES lines in all (a sample that is not
verse, a date or Latin letters, is refused and not counted, PROSE_TRIES more
at most).  A first line of a rhyme must end on a word with rhymes enough among
the model's own words (assistant.poetry.constrained_rhymes); a partner line
that found no rhyme is ended on the likeliest rhyming word of the lexicon that
scans (the form is the user's request); else the best line found is kept.  A
partner line the judge accepts must also rhyme by the analysis of its stanza
(`lira poem analyze`).  Stanzas are the scheme's length; between them the model is asked
whether it goes on (a blank line or a new line) or ends (the end marker or
EOS), unless the requested stanza count ends the poem first, or the token budget,
which ends it on the last whole stanza when one more as long as the longest so far
would not fit.  A stanza is never left unfinished: where the model would end the poem
within one, the line is begun on a word the model would write there.  Every prompt
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
    SUPPLY_OK,
    StanzaLine,
    Verdict,
    analysis_agrees,
    is_verse,
    judge,
    marked_lines,
    verse_of,
)
from assistant.poetry.constrained_tail import (
    can_choose_tails,
    may_rhyme,
    next_words,
    rhyme_lexicon,
    split_last_word,
)
from assistant.poetry.verse import Verse
from assistant.runtime.generation import GenerationStats
from assistant.runtime.presets import Preset

LINE_TOKENS = 32  # a verse line is rarely past 20 tokens; a runaway one is cut here
LINE_TRIES = 3  # lines sampled for one line of the poem before the best is kept
# From this sampled line on, a line that rhymes as asked is kept even if it does not
# scan: the scheme matters more, and every further line costs a sample (2 was measured:
# the metre gained little and the scheme lost, see the README).
RHYME_ENOUGH_FROM = 1
TAIL_TRIES = 2  # chosen last words tried per sampled line
CONTINUATION_TOKENS = 3  # enough to see whether a chosen word goes on (a piece of a word)
MAX_STANZAS = 8  # without a stanza count or an end marker, the poem stops here
PROSE_TRIES = 3  # further samples when the model writes what is not verse (dates, Latin)
OPENING_WORDS = 8  # likeliest last words judged for a first line of a rhyme (each costs stress)
LAST_RESORT_BEGINNINGS = 2  # sampled beginnings a partner line's last resort may end
END, BLANK, LINE, PROSE = "end", "blank", "line", "prose"
_PUNCTUATION = re.compile(r"[^\w\s#]*")


@dataclass
class Sample:
    """A sampled piece of text up to the newline, and what it was."""

    text: str
    kind: str  # END (the end marker, EOS), BLANK (an empty line), LINE or PROSE (not verse)
    stopped_by: str
    raw: str = ""  # the text up to the newline as sampled, spaces kept


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
        self.last_resorts = 0  # partner lines ended on any rhyming word of the lexicon
        self.prose = 0  # sampled lines refused as not verse
        self.disagreements = 0  # lines the judge took for rhymes the stanza's analysis did not
        self._line_preset = replace(preset, stop=("\n",), max_new_tokens=LINE_TOKENS)
        self._random = random.Random(seed)
        self._tails = can_choose_tails(generator)
        self._lexicon = rhyme_lexicon(generator)
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
        longest = 0  # tokens of the longest stanza so far
        self.stats.stopped_by = "stanzas"
        while len(self.stanzas) < limit and not self.cancel.is_set():
            first = None
            used = self.generator.count_tokens(context)
            if self.stanzas and used + longest > self.preset.max_new_tokens:
                self.stats.stopped_by = "max tokens"  # another stanza may not fit: none begun
                return
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
            longest = max(longest, self.generator.count_tokens(context) - used)

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
        the model ended, when every sample ended the poem.  Samples that are not verse are
        not counted (PROSE_TRIES more at most); a partner line that found no rhyme is ended
        on any rhyming word of the model's lexicon (the form is what the user asked for)."""
        best: Verdict | None = None
        ended = None
        prose: str | None = None
        beginnings: list[str] = []
        attempt = tries = 0
        while attempt < LINE_TRIES and tries < LINE_TRIES + PROSE_TRIES:
            if self.cancel.is_set():
                break
            tries += 1
            sample = first if tries == 1 and first is not None else self._sample(context)
            if sample.kind == PROSE:
                self.prose += 1
                prose = prose or sample.text
                continue
            if sample.kind == END and stanza:  # a stanza is not left unfinished: not counted
                continue
            attempt += 1
            if sample.kind != LINE:
                ended = sample.stopped_by if sample.kind == END else ended
                continue
            beginnings.append(sample.text)
            for verdict in self._candidates(context, sample.text, letter, stanza):
                if best is None or verdict.penalty < best.penalty:
                    best = verdict
                if verdict.ok:
                    return verdict, None
            if best is not None and best.rhyme_misses == 0 and attempt >= RHYME_ENOUGH_FROM:
                break
        if best is not None and best.rhyme_misses and not self.cancel.is_set():
            forced = self._last_resort(context, beginnings, letter, stanza)
            if forced is not None and forced.penalty < best.penalty:
                self.last_resorts += 1
                best = forced
        # the model would end the stanza unfinished, or writes only prose here (a date, a
        # signature): a line begun on a word it would write is better verse than the prose
        if best is None and (stanza or prose is not None) and not self.cancel.is_set():
            best = self._begun_line(context, letter, stanza)
        if best is None and prose is not None:  # no distribution to begin a line from
            [marked] = marked_lines([prose])
            best = self._judge(prose, verse_of(marked), letter, stanza)
        return best, ended

    def _begun_line(self, context: str, letter: str, stanza: list[StanzaLine]) -> Verdict | None:
        """For a stanza the model would leave unfinished: the best of lines begun on words
        the model would write there (drawn by its probability, the end marker and EOS not
        among them) and sampled on; None without a distribution to draw from (a server)."""
        if not self._tails:
            return None
        words = next_words(self.generator, self.prompt + context, str.isalpha)
        best = None
        for word in self._draw(words, LINE_TRIES):
            start = word.word.capitalize()
            text = (start + self._sample(context + start).raw).split("#")[0].strip()
            candidates = (self._candidates(context, text, letter, stanza) if is_verse(text)
                          else [self._judge(text, verse_of(marked_lines([text])[0]), letter,
                                            stanza)])
            for verdict in candidates:
                if best is None or verdict.penalty < best.penalty:
                    best = verdict
                if verdict.ok:
                    return verdict
        return best

    def _last_resort(self, context: str, beginnings: list[str], letter: str,
                     stanza: list[StanzaLine]) -> Verdict | None:
        """A sampled beginning ended on the likeliest lexicon word that rhymes with the
        partner lines and scans best, whether or not the model would end the line there."""
        partners = [line.ending for line in stanza
                    if line.letter == letter != "-" and line.ending is not None]
        if self._lexicon is None or not partners:
            return None
        rhyming = set.intersection(*(set(self._lexicon.rhymes(p)) for p in partners))
        best = None
        # A word the model would end the line on first; a lexicon token may be a piece
        # of a word ('кото'), so one the model would go on spelling only then.
        for force in (False, True):
            for text in beginnings[:LAST_RESORT_BEGINNINGS]:
                for verdict in self._chosen_tails(context, text, letter, stanza,
                                                  keep=rhyming.__contains__, force=force):
                    if best is None or verdict.penalty < best.penalty:
                        best = verdict
                if best is not None and best.ok:
                    return best
            if best is not None and not best.rhyme_misses:
                return best
        return best

    def _candidates(self, context: str, text: str, letter: str,
                    stanza: list[StanzaLine]) -> Iterator[Verdict]:
        """The sampled line judged, then (if it fails) the same line with chosen last words."""
        [marked] = marked_lines([text])
        verdict = self._checked(self._judge(text, verse_of(marked), letter, stanza), letter,
                                stanza)
        yield verdict
        # A first line of a rhyme that scans badly stays as sampled: its rhyme is free.
        if verdict.ok or not self._tails or (self._opens(letter, stanza)
                                             and not verdict.rhyme_misses):
            return
        yield from self._chosen_tails(context, text, letter, stanza)

    def _opens(self, letter: str, stanza: list[StanzaLine]) -> bool:
        return letter != "-" and letter not in (line.letter for line in stanza)

    def _judge(self, text: str, verse: Verse, letter: str, stanza: list[StanzaLine]) -> Verdict:
        form = self.request.form
        # The first line of a rhyme must end on a word a later line can rhyme with, one
        # with enough rhymes among the model's own words.
        supply = self._lexicon.supply if self._lexicon is not None else None
        return judge(text, verse, letter, stanza, form.metre_spec, form.feet,
                     self._opens(letter, stanza), supply)

    def _checked(self, verdict: Verdict, letter: str, stanza: list[StanzaLine]) -> Verdict:
        """``verdict``, unless the judge found a partner line's rhyme that the analysis of
        the stanza (as `lira poem analyze` reads it) does not: then a miss."""
        if verdict.rhyme_misses or self._opens(letter, stanza) or letter == "-":
            return verdict
        letters = "".join(line.letter for line in stanza) + letter
        if analysis_agrees(self.stanzas[-1] + [verdict.text], letters):
            return verdict
        self.disagreements += 1
        return replace(verdict, rhyme_misses=1)

    def _chosen_tails(self, context: str, text: str, letter: str, stanza: list[StanzaLine],
                      keep=None, force: bool = False) -> Iterator[Verdict]:
        """Lines with the sampled beginning and a chosen last word that rhymes with the
        partner lines, or, for the first line of a rhyme, that has rhymes enough in the
        lexicon (``keep``: which words may end it; ``force``: even where the model would go
        on spelling the word)."""
        partners = [line.ending.word for line in stanza
                    if line.letter == letter != "-" and line.ending is not None]
        parts = split_last_word(text)
        if parts is None:
            return
        if keep is None and partners:
            keep = lambda word: may_rhyme(word, partners)  # noqa: E731
        elif keep is None and self._opens(letter, stanza) and self._lexicon is not None:
            keep = lambda word: self._lexicon.letter_supply(word) >= SUPPLY_OK  # noqa: E731
        if keep is None:
            return
        begin = parts[0]
        words = next_words(self.generator, self.prompt + context + begin, keep)
        if not partners:  # each judged first word stresses its rhymes: the likeliest only
            words = words[:OPENING_WORDS]
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
            finished = self._finish_tail(context, begin, word.word, letter, stanza, force)
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
                     stanza: list[StanzaLine], force: bool = False) -> Verdict | None:
        """The line with ``word`` last, if the model does not take the word for the start
        of a longer one (``force``: even then); with the punctuation the model puts after it."""
        line = f"{begin} {word}"
        # As sampled, spaces kept: letters at once go on spelling the word, a space begins
        # another word (the line may end here all the same).
        after = self._sample(context + line, CONTINUATION_TOKENS).raw
        if after[:1].isalpha() and not force:  # a piece of a word: judge what the model makes of it
            return None
        punctuation = _PUNCTUATION.match(after).group() if not after[:1].isalpha() else ""
        [marked] = marked_lines([line])
        verdict = self._checked(self._judge(line + punctuation, verse_of(marked), letter, stanza),
                                letter, stanza)
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
            return Sample("", END, "stop string" if text.strip() else "eos", text)
        if not text.strip():
            return Sample("", BLANK, stopped, text)
        line = text.split("#")[0].strip()
        return Sample(line, LINE if is_verse(line) else PROSE, stopped, text)

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
            "lines_rhymed": sum(v.rhyme_misses == 0 for v in self.verdicts),
            "lines_in_metre": sum(v.metre_ok is True for v in self.verdicts),
            "samples": self.samples, "chosen_last_words": self.tails_chosen,
            "last_resort_words": self.last_resorts, "prose_refused": self.prose,
            "analysis_disagreed": self.disagreements, "stanzas_judged": self._judged(),
            "stopped_by": self.stats.stopped_by}
        return self._report

    def _judged(self) -> list[bool]:
        """Per stanza: whether the judge kept every line's rhymes and the stanza is whole."""
        verdicts = iter(self.verdicts)
        length = len(self.request.form.scheme)
        return [len(lines) == length and all(next(verdicts).rhyme_misses == 0 for _ in lines)
                for lines in self.stanzas if lines]

    def note(self) -> str:
        """One line for the user: the form asked for and the form written."""
        report = self.report()
        asked, got = report["requested"], report["achieved"]
        metre = (f"{asked['metre'] or 'any metre'}"
                 + (f" {asked['feet']}-foot" if asked["feet"] else ""))
        achieved_metre = (f"{got['metre']} {got['feet']}-foot" if got["metre"]
                          else "no clear metre")
        return (f"form: asked {asked['scheme']}, {metre} ({report['source']}); wrote "
                f"{got['rhyme_scheme'] or 'nothing'}, {achieved_metre}; of {report['lines']} "
                f"lines {report['lines_rhymed']} rhyme as asked, {report['lines_in_metre']} "
                f"scan, {report['lines_in_form']} both (lines in form)")
