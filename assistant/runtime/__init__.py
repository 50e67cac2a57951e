"""Running models: references and loading, the compute thread, generation.

models (a reference -> a local folder: folder, HF cache, bundled), gemma_bundle
(preparing the bundled generator), model_report (`lira models`), adapter_choice
(which adapter a profile loads), loading (a model, tokenizer, device,
quantisation and adapter as a LoadedModel), compute (the one thread all model
work runs on), generation (streaming text with presets and stop strings),
decode_loop, prompt_cache and growing_cache (Lira's own decode loop and cache),
offline (the ML libraries kept offline and quiet); ``cpu`` holds the CPU
speed-ups.

May import ``assistant.settings``, ``assistant.errors``, ``index`` and
``adapters``; not chat, poetry, grounding, evals or the front ends.
"""
