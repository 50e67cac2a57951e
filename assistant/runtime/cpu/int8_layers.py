"""int8 weights for a decoder's Linear layers, smoothed so the text stays the same.

A decode step on a CPU is bound by reading weights; int8 weights with int8
activations (fbgemm's dynamic kernels) read a quarter of the bytes and ran the
bundled model's layers 2.5x faster here.  Done naively (torch's
``quantize_dynamic``) it halved the chat adapter's exact match, for two reasons
this module removes:

- torch quantises activations to 7 bits (``reduce_range``); these layers use 8
  where the CPU's kernel sums them exactly (with VNNI; kernel_saturates);
- a few activation channels are far larger than the rest, so one scale per
  token rounds the others away.  SmoothQuant (Xiao et al., 2022) divides those
  channels by s = max|x|^a / max|w|^(1-a) and multiplies the weight's columns by
  s; the division is folded into the preceding RMSNorm (for q/k/v and gate/up),
  into v_proj (for o_proj) or up_proj (for down_proj), so the float model is
  unchanged.  max|x| comes from one forward pass over a calibration text.

down_proj (the MLP's output, whose input holds the largest outliers) stays in
float32, and so do the first and last layers of a deep model.  Measured by
teacher-forced greedy agreement with float32 on 8 held-out chat prompts (192
tokens): naive int8 87.0%; 8-bit activations 91.7%; smoothed 95.4%; down_proj
left in float32 97.2%; first and last layers too 100%.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch

SMOOTHING = 0.5  # a: 0.5 agreed best with float32 among 0.5-0.8 on held-out prompts
# Deep models keep their first and last decoder layers in float32: quantised, they
# moved most of the greedy choices that still differed (1 in 36 on held-out prompts).
FLOAT_ENDS_FROM = 6  # layers at least
QUANTISED = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")
# Written for this purpose (not from any corpus): everyday Russian prose, a
# question, figures and a list, the kinds of text a chat prompt holds.
CALIBRATION_TEXT = (
    "Фрагменты:\n[1] Весной 1703 года на берегу Невы заложили крепость, и вокруг неё "
    "быстро вырос город. Через двадцать лет в нём жили уже около 40 тысяч человек, "
    "а к 1800 году — больше двухсот тысяч.\n[2] Зимой река замерзает, и по льду "
    "ездят на санях; летом ночи так светлы, что можно читать без лампы.\n"
    "Вопрос: Когда была заложена крепость и сколько людей жило в городе через "
    "двадцать лет? Ответь по фрагментам и укажи номер.\nОтвет: Крепость заложили "
    "весной 1703 года [1]; через двадцать лет в городе жили около 40 тысяч человек [1].\n"
    "Пользователь: Напиши короткое стихотворение о море.\nАссистент: Шумит волна, "
    "и ветер свеж, / над морем чайки кружат. / Я помню берег, где мы реже / "
    "молчали, чем сейчас...\nСписок покупок: хлеб, молоко (2 л), яблоки — 1,5 кг, "
    "чай «Крепкий», 3 банки варенья. Итого: 1 245 рублей.\n"
    "«Ты куда?» — спросил он. «Домой», — ответила она, не оборачиваясь."
)


def pack_int8_rows(read_rows: Callable[[torch.Tensor], torch.Tensor], index: torch.Tensor,
                   width: int, bias: torch.Tensor | None = None) -> Any:
    """fbgemm's packed per-row int8 form of the float rows ``read_rows(index)``, quantised
    a block of rows at a time into one int8 matrix (so the float rows are never all copied
    at once: for the bundled model's output layer a whole-matrix version raised the load's
    peak memory by 250 MB).  ``bias``: one value per row, or None."""
    values = torch.empty((len(index), width), dtype=torch.int8)
    scale = torch.empty(len(index), dtype=torch.float64)
    for start in range(0, len(index), 1024):
        rows = read_rows(index[start:start + 1024])
        block_scale = rows.abs().amax(dim=1).clamp(min=1e-8) / 127
        rows.div_(block_scale[:, None]).round_().clamp_(-127, 127)
        values[start:start + len(rows)] = rows
        scale[start:start + len(rows)] = block_scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the quantised tensor API, not its kernels
        quantised = torch._make_per_channel_quantized_tensor(
            values, scale, torch.zeros_like(scale, dtype=torch.long), 0)
        del values
        return torch.ops.quantized.linear_prepack(
            quantised, None if bias is None else bias.detach().float())


def int8_matmul(x: torch.Tensor, packed: Any) -> torch.Tensor:
    """``x`` times a pack_int8_rows matrix, transposed, with x quantised on the fly to 8 bits
    (7 where this CPU's kernel would overflow them: kernel_saturates)."""
    return torch.ops.quantized.linear_dynamic(x, packed, kernel_saturates())


@functools.cache
def kernel_saturates() -> bool:
    """True where this CPU's int8 kernel overflows 8-bit activations.

    Without VNNI, fbgemm and oneDNN multiply uint8 activations by int8 weights in pairs
    summed in int16 (vpmaddubsw), and 2 x 255 x 127 = 64,770 saturates at 32,767: logits
    came out 14 quantisation steps off on such a CPU.  With 7-bit activations (torch's own
    ``reduce_range``, for this reason) a pair stays below it (2 x 127 x 127); with VNNI the
    sums are exact and 8 bits are kept.  Probed once: all ones, where 8 bits give 64.
    """
    packed = pack_int8_rows(lambda index: torch.ones(len(index), 64), torch.arange(1), 64)
    out = torch.ops.quantized.linear_dynamic(torch.ones(1, 64), packed, False)
    return abs(float(out) - 64) > 1  # 32.4 when the pairs saturate


class Int8Linear(torch.nn.Module):
    """A Linear layer with per-channel int8 weights and dynamic int8 activations (int8_matmul)."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        self._packed = pack_int8_rows(lambda rows: weight[rows].float(),
                                      torch.arange(self.out_features), self.in_features,
                                      linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return int8_matmul(x, self._packed)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def smooth_decoder(model: Any, tokenizer: Any) -> list:
    """Fold SmoothQuant factors into the decoder layers in place (the float model's outputs
    stay the same); returns the layers, [] when the architecture is not one this knows."""
    layers = _decoder_layers(model)
    if not layers:
        return []
    calibration = tokenizer(CALIBRATION_TEXT, return_tensors="pt")["input_ids"]
    maxima = _input_maxima(model, layers, calibration.to(model.device))
    with torch.no_grad():
        for layer, layer_maxima in zip(layers, maxima):
            _smooth_layer(layer, layer_maxima)
    return layers


def quantize_decoder(model: Any, tokenizer: Any) -> int:
    """Smooth, then give the decoder layers int8 weights in place; returns how many Linear
    layers were replaced (0 when the architecture is not known).  Needs float32 weights
    (merge an adapter first)."""
    layers = smooth_decoder(model, tokenizer)
    if len(layers) >= FLOAT_ENDS_FROM:
        layers = layers[1:-1]
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the quantised tensor API, not its kernels
        for layer in layers:
            count += _quantize_layer(layer)
    return count


def _decoder_layers(model: Any) -> list:
    """The decoder layers when every one has the shape this module can smooth."""
    inner = getattr(model, "model", None)
    layers = list(getattr(inner, "layers", None) or [])
    needed = ("input_layernorm", "self_attn", "mlp")
    for layer in layers:
        if not all(hasattr(layer, name) for name in needed) or _mlp_norm(layer) is None:
            return []
        if not all(isinstance(getattr(layer.self_attn, n, None), torch.nn.Linear)
                   for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
            return []
        if not all(isinstance(getattr(layer.mlp, n, None), torch.nn.Linear)
                   for n in ("gate_proj", "up_proj", "down_proj")):
            return []
        if getattr(layer.self_attn, "head_dim", None) is None:
            return []
    return layers


def _mlp_norm(layer: Any) -> Any:
    # Gemma normalises again before the MLP; Llama-style layers use post_attention_layernorm.
    return getattr(layer, "pre_feedforward_layernorm", None) or getattr(
        layer, "post_attention_layernorm", None)


def _input_maxima(model: Any, layers: list, ids: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Per layer, the largest |input| of each channel of q_proj, gate_proj and o_proj."""
    maxima: list[dict[str, torch.Tensor]] = [{} for _ in layers]
    hooks = []
    for index, layer in enumerate(layers):
        for key, module in (("attn", layer.self_attn.q_proj), ("mlp", layer.mlp.gate_proj),
                            ("o", layer.self_attn.o_proj)):
            def record(_module, inputs, _output, index=index, key=key):
                x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(dim=0)
                maxima[index][key] = x.float()
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.inference_mode():
            model(input_ids=ids)
    finally:
        for hook in hooks:
            hook.remove()
    return maxima


def _factors(x_max: torch.Tensor, w_max: torch.Tensor) -> torch.Tensor:
    return (x_max.clamp(min=1e-5) ** SMOOTHING / w_max.clamp(min=1e-5) ** (1 - SMOOTHING)
            ).clamp(min=1e-5)


def _smooth_layer(layer: Any, maxima: dict[str, torch.Tensor]) -> None:
    attn, mlp = layer.self_attn, layer.mlp
    _into_norm(layer.input_layernorm, (attn.q_proj, attn.k_proj, attn.v_proj), maxima["attn"])
    _into_norm(_mlp_norm(layer), (mlp.gate_proj, mlp.up_proj), maxima["mlp"])
    _into_values(attn, maxima["o"])


def _into_norm(norm: Any, linears: tuple, x_max: torch.Tensor) -> None:
    """Divide the norm's output channels by s and multiply the next layers' columns by s."""
    w_max = torch.stack([lin.weight.abs().amax(dim=0) for lin in linears]).amax(dim=0)
    s = _factors(x_max, w_max)
    # Gemma's RMSNorm scales by (1 + weight), Llama's by weight.
    offset = 1.0 if "Gemma" in type(norm).__name__ else 0.0
    norm.weight.copy_((offset + norm.weight) / s - offset)
    for lin in linears:
        lin.weight.mul_(s)


def _into_values(attn: Any, x_max: torch.Tensor) -> None:
    """o_proj's input channel (head h, dim d) is a mix of v's (kv head of h, d): share s."""
    head_dim = attn.head_dim
    heads, kv_heads = attn.o_proj.in_features // head_dim, attn.v_proj.out_features // head_dim
    group = heads // kv_heads
    x = x_max.view(kv_heads, group, head_dim).amax(dim=1)
    w = attn.o_proj.weight.abs().amax(dim=0).view(kv_heads, group, head_dim).amax(dim=1)
    s = _factors(x, w)
    attn.v_proj.weight.div_(s.reshape(-1, 1))
    if attn.v_proj.bias is not None:
        attn.v_proj.bias.div_(s.reshape(-1))
    attn.o_proj.weight.mul_(s[:, None, :].expand(kv_heads, group, head_dim).reshape(-1))


def _quantize_layer(layer: Any) -> int:
    count = 0
    for parent in (layer.self_attn, layer.mlp):
        for name in QUANTISED:
            if isinstance(getattr(parent, name, None), torch.nn.Linear):
                setattr(parent, name, Int8Linear(getattr(parent, name)))
                count += 1
    return count
