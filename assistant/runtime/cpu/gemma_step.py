"""One decode step of a Gemma 3 causal LM written straight over its weights.

For a single new token, transformers' Gemma 3 layer does much more than the
arithmetic: it builds full and sliding-window masks over the whole cache,
rotary tables, a copy of the one key/value head for each of the four query
heads, and attends to every cached position on the sliding-window layers only
to mask most of them out.  On the bundled model those small ops took about a
third of a decode step.  This step does the same arithmetic (same weights,
RMSNorm with Gemma's 1 + w, rotary embedding, GELU-tanh MLP, attention over
the last ``sliding_window`` positions on local layers) in a few dozen ops per
layer, over the modules' own weight tensors (no copies: fusing q/k/v and
gate/up into single matrices was measured, gained ~3% and cost 250 MB, since
the merged weights' old pages stay mapped).  Prompts (many tokens) still go
through transformers.

Imported only where torch already is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class _Layer:
    """The tensors of one decoder layer that a one-token step reads (no copies of weights)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    out: torch.Tensor
    gate: torch.Tensor
    up: torch.Tensor
    down: torch.Tensor
    input_norm: torch.Tensor  # each norm's 1 + w, precomputed
    post_attention_norm: torch.Tensor
    pre_feedforward_norm: torch.Tensor
    post_feedforward_norm: torch.Tensor
    qk_norm: torch.Tensor  # q_norm's 1 + w per query head, then k_norm's per key head
    inv_freq: torch.Tensor
    window: int | None  # positions attended on a sliding-window layer


class GemmaStep:
    """``step(token_id, cache)`` -> logits of the next token, shape (1, vocab)."""

    def __init__(self, model: Any):
        text = model.model
        config = model.config
        self.config = config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.eps = config.rms_norm_eps
        self.scaling = config.query_pre_attn_scalar ** -0.5
        self.softcap = config.final_logit_softcapping
        self.embed = text.embed_tokens
        self.final_norm = _one_plus(text.norm.weight)
        self.head = model.lm_head
        rotary = text.rotary_emb
        self.layers = [self._fuse(layer, config.layer_types[i], rotary)
                       for i, layer in enumerate(text.layers)]

    @classmethod
    def fits(cls, model: Any) -> bool:
        """True for a plain Gemma 3 text model whose projections are bias-free Linears."""
        config = getattr(model, "config", None)
        if getattr(config, "model_type", None) != "gemma3_text":
            return False
        if config.attn_logit_softcapping is not None or config.use_bidirectional_attention:
            return False
        rope = getattr(config, "rope_parameters", None) or {}
        if any((rope.get(t) or {}).get("rope_type", "default") != "default"
               for t in set(config.layer_types)):
            return False
        for layer in model.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            for linear in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj,
                           mlp.gate_proj, mlp.up_proj, mlp.down_proj):
                if type(linear) is not torch.nn.Linear or linear.bias is not None:
                    return False
        return True

    def _fuse(self, layer: Any, layer_type: str, rotary: Any) -> _Layer:
        attn, mlp = layer.self_attn, layer.mlp
        qk_norm = torch.cat([_one_plus(attn.q_norm.weight).expand(self.heads, -1),
                             _one_plus(attn.k_norm.weight).expand(self.kv_heads, -1)])
        window = self.config.sliding_window if layer_type == "sliding_attention" else None
        return _Layer(q=attn.q_proj.weight, k=attn.k_proj.weight, v=attn.v_proj.weight,
                      out=attn.o_proj.weight, gate=mlp.gate_proj.weight, up=mlp.up_proj.weight,
                      down=mlp.down_proj.weight,
                      input_norm=_one_plus(layer.input_layernorm.weight),
                      post_attention_norm=_one_plus(layer.post_attention_layernorm.weight),
                      pre_feedforward_norm=_one_plus(layer.pre_feedforward_layernorm.weight),
                      post_feedforward_norm=_one_plus(layer.post_feedforward_layernorm.weight),
                      qk_norm=qk_norm.contiguous(),
                      inv_freq=getattr(rotary, f"{layer_type}_inv_freq").float(),
                      window=window)

    def __call__(self, token_id: int, cache: Any) -> torch.Tensor:
        position = cache.get_seq_length()
        ids = torch.tensor([[token_id]], device=self.final_norm.device)
        hidden = self.embed(ids)[0]  # (1, hidden), scaled by sqrt(hidden) like transformers
        rotations: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for index, layer in enumerate(self.layers):
            key = id(layer.inv_freq)
            if key not in rotations:
                rotations[key] = _rotation(layer.inv_freq, position)
            hidden = self._layer(hidden, layer, cache.layers[index], rotations[key])
        logits = self.head(_rms(hidden, self.final_norm, self.eps))
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _layer(self, hidden: torch.Tensor, layer: _Layer, cached: Any,
               rotation: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        attended = self._attention(_rms(hidden, layer.input_norm, self.eps), layer, cached,
                                   rotation)
        hidden = hidden + _rms(attended, layer.post_attention_norm, self.eps)
        normed = _rms(hidden, layer.pre_feedforward_norm, self.eps)
        gate = F.gelu(F.linear(normed, layer.gate), approximate="tanh")
        mlp = F.linear(gate * F.linear(normed, layer.up), layer.down)
        return hidden + _rms(mlp, layer.post_feedforward_norm, self.eps)

    def _attention(self, normed: torch.Tensor, layer: _Layer, cached: Any,
                   rotation: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        heads, kv_heads, dim = self.heads, self.kv_heads, self.head_dim
        qk = torch.cat((F.linear(normed, layer.q), F.linear(normed, layer.k)), dim=-1)
        # q and k heads are normed and rotated together: one op each instead of two.
        qk = _rotate(_rms(qk.view(heads + kv_heads, dim), layer.qk_norm, self.eps), *rotation)
        new_key = qk[heads:].view(1, kv_heads, 1, dim)
        new_value = F.linear(normed, layer.v).view(1, kv_heads, 1, dim)
        keys, values = cached.update(new_key, new_value)
        if layer.window is not None and keys.shape[-2] > layer.window:
            keys, values = keys[..., -layer.window:, :], values[..., -layer.window:, :]
        # Query heads grouped under their key head: (kv_heads, group, dim).
        query = qk[:heads].view(kv_heads, heads // kv_heads, dim)
        scores = torch.matmul(query, keys[0].transpose(-1, -2)) * self.scaling
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype)
        attended = torch.matmul(weights, values[0])  # (kv_heads, group, dim)
        return F.linear(attended.reshape(1, heads * dim), layer.out)


def _one_plus(weight: torch.Tensor) -> torch.Tensor:
    return 1.0 + weight.detach().float()


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Gemma's RMSNorm (computed in float32, times 1 + w) over the last dimension."""
    normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
    return (normed * weight).type_as(x)


def _rotation(inv_freq: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
    freqs = float(position) * inv_freq
    angles = torch.cat((freqs, freqs))
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin

