"""CPU speed-ups of a loaded generator, each a setting (assistant.settings.SpeedSettings).

speedups (applies them), gemma_step (a lean one-token step for Gemma 3),
int8_layers (smoothed int8 linear layers, shared int8 row packing),
vocab_subset and its ``vocab/`` files (the output tokens Russian text needs),
restricted_head (that subset in int8 with the best logits recomputed in
float32), file_rows (its rows read from the model's safetensors file), heap
(freed heap handed back to the OS).

May import ``assistant.settings`` and ``assistant.errors`` only, besides torch.
"""
