"""Measuring Lira: `lira eval rag`, `lira eval poetry`, `lira eval check`, chrF++ and `gen`.

rag, poetry and check (the evaluations), their *_report modules and report
(report.json, summary.md and plots), the metrics (chrf, gen_metrics: BLEU,
ROUGE and METEOR, answer_metrics, retrieval_metrics, poem_metrics), the data they read (squad_data,
poetry_holdout), adapter_eval (an adapter scored on its hold-out, also used by
bench/adapter_quality.py) and sampling_search (sampling settings tuned with
Optuna).

May import anything in ``assistant`` except the front ends, and ``index``
and ``adapters``.
"""
