"""Poems: writing them in an author's style and analysing their form.

compose (the poem prompt with the author's poems as style examples), choice
(the best of several candidates by form and fluency), authors (is an author
indexed; near matches of a typo), form (lines, stanzas, rhyme scheme, metre),
rhyme, metre, verse and stress (the analysis beneath it), form_agreement
(a poem's form against another's), fluency (mean log-probability).

May import ``assistant.engine``, ``runtime``, ``index`` and ``adapters``.
"""
