"""Making a loaded generator fast on a CPU: merged adapter, int8 layers, a smaller output layer.

On a 2-core CPU a decode step of the bundled model is bound by reading weights:
1.07 GB of float32 per token, 671 MB of it the output layer.  The speed-ups,
each a setting (SpeedSettings) because each changes the numbers slightly:

- merge_adapter: a LoRA/IA3 adapter folded into the base weights (no extra
  matmuls per layer; a prerequisite for int8 weights);
- int8: per-channel int8 weights for the decoder's attention and MLP input
  layers, smoothed first so activation outliers survive (int8_layers; the
  output layer and down_proj stay float32);
- output_subset: logits only for the tokens Russian text needs (vocab_subset);
- output_int8: that subset held in int8, its best 64 logits recomputed in
  float32 (restricted_head);
- lean_decode: for Gemma 3, a one-token step over the layers' own weights and
  Lira's own decode loop instead of ``model.generate`` (gemma_step, decode_loop).

bfloat16 weights were tried and dropped: without bfloat16 instructions (AVX2
only) torch's bfloat16 matmul made a decode step slower, not faster.

bench/generation.py measures speed and agreement with the float32 path.
"""

from __future__ import annotations

from typing import Any

from assistant.runtime.cpu.heap import release_free_heap
from assistant.runtime.cpu.vocab_subset import load_subset, restrict_output_layer
from assistant.settings import SpeedSettings

MERGEABLE = ("LORA", "IA3")


def merge_adapter(model: Any) -> tuple[Any, bool]:
    """The model with its peft adapter folded in, when the method allows; else unchanged."""
    config = getattr(model, "active_peft_config", None)
    if config is None or str(getattr(config.peft_type, "value", config.peft_type)) not in MERGEABLE:
        return model, False
    return model.merge_and_unload(), True


def speed_up(model: Any, tokenizer: Any, speed: SpeedSettings, device: str,
             quantization: str, seq2seq: bool,
             folder: Any = None) -> tuple[Any, list[str], Any]:
    """Apply the speed-ups that fit this model (loaded from ``folder``) and device.

    Returns the model, the names of what was applied, and a one-token decode
    step for assistant.runtime.decode_loop (None: use ``model.generate``).
    """
    applied = []
    if _adapter_touches_embeddings(model):
        folder = None  # the file's embedding is no longer the model's
    if speed.merge_adapter and quantization == "none":
        model, merged = merge_adapter(model)
        if merged:
            applied.append("merged adapter")
            release_free_heap()  # the adapter's layers, before the output layer's packing
    if device != "cpu" or quantization != "none" or seq2seq or _has_adapter(model):
        return model, applied, None
    if speed.output_subset:
        ids = load_subset(tokenizer)
        if ids and restrict_output_layer(model, ids, speed.output_int8, folder):
            kind = " int8" if speed.output_int8 else ""
            applied.append(f"output layer {len(ids):,} tokens{kind}")
    if speed.int8:
        from assistant.runtime.cpu.int8_layers import kernel_saturates, quantize_decoder

        # The layers' smoothing was tuned for 8-bit activations summed exactly; a kernel
        # that needs 7 (no VNNI) made the smoothed layers worse than plain int8 on an
        # outlier channel, so there they are left in float32.
        quantised = 0 if kernel_saturates() else quantize_decoder(model, tokenizer)
        if quantised:
            applied.append(f"int8 x{quantised}")
    step = _lean_step(model) if speed.lean_decode else None
    if step is not None:
        applied.append("lean decode")
    return model, applied, step


def _lean_step(model: Any) -> Any:
    from assistant.runtime.cpu.gemma_step import GemmaStep

    return GemmaStep(model) if GemmaStep.fits(model) else None


def _adapter_touches_embeddings(model: Any) -> bool:
    """True when the attached adapter trains or replaces token embeddings or the output layer."""
    config = getattr(model, "active_peft_config", None)
    if config is None:
        return False
    if getattr(config, "trainable_token_indices", None):
        return True
    modules = str([getattr(config, "target_modules", None),
                   getattr(config, "modules_to_save", None)])
    return any(word in modules for word in ("embed", "lm_head", "wte", "shared"))


def _has_adapter(model: Any) -> bool:
    # An adapter that could not be merged (prompt tuning) keeps peft's wrappers in place.
    return getattr(model, "active_peft_config", None) is not None
