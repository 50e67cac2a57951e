"""The glue behind `lira train` and `lira adapters`: settings, model references, printing.

The work itself is in ``adapters``; this module resolves model references with
Lira's settings, runs the work on the compute thread, turns Ctrl+C into a
checkpointed stop, and prints the results.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.root import stage_printer
from assistant.errors import ModelNotFound, SettingsError
from assistant.safe_text import one_line

if TYPE_CHECKING:  # annotations only: `lira --help` does not load the settings
    from assistant.settings import Settings


def _train_options(func):
    """The many options of `lira train`, grouped: run, loop, adapter, data."""
    options = [
        click.option("--base", required=True,
                     help="Base model reference (HF id, folder or bundled name)."),
        click.option("--data", type=click.Path(path_type=Path), required=True, multiple=True,
                     help="Training data: a file or a folder of poems (repeat to mix files)."),
        click.option("--out", type=click.Path(path_type=Path), help="Adapter folder to write."),
        click.option("--name", help="Write to LIRA_HOME/adapters/NAME instead of --out."),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output folder."),
        click.option("--epochs", type=float, default=3.0, show_default=True),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps."),
        click.option("--lr", type=float,
                     help="Learning rate [default: lora 2e-4, ia3 3e-3, prompt-tuning 3e-2, "
                          "lora+prompt-tuning 3e-4]."),
        click.option("--batch-size", type=int, default=1, show_default=True),
        click.option("--grad-accum", type=int, default=1, show_default=True,
                     help="Gradient accumulation steps."),
        click.option("--warmup-steps", type=int, default=2, show_default=True,
                     help="Linear warm-up, then linear decay."),
        click.option("--weight-decay", type=float, default=0.0, show_default=True),
        click.option("--max-length", type=int, default=1024, show_default=True,
                     help="Longest example in tokens; longer ones are left out."),
        click.option("--eval-fraction", type=float, default=0.1, show_default=True,
                     help="Share of examples kept for evaluation (0: none)."),
        click.option("--eval-steps", type=int, default=100, show_default=True,
                     help="Evaluate and checkpoint every N steps."),
        click.option("--early-stopping", type=int, default=0, show_default=True,
                     help="Stop after N evaluations without improvement (0: never)."),
        click.option("--seed", type=int, default=42, show_default=True),
        click.option("--logging-steps", type=int, default=10, show_default=True),
        click.option("--quantization", type=click.Choice(["none", "8bit", "4bit"]), default="none",
                     show_default=True, help="Load the base in 8 or 4 bits (QLoRA)."),
        click.option("--gradient-checkpointing", is_flag=True, help="Trade compute for memory."),
        click.option("--full-logits", is_flag=True,
                     help="Compute logits at every position (slower; for comparison)."),
        click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank."),
        click.option("--alpha", type=int, default=16, show_default=True, help="LoRA alpha."),
        click.option("--dropout", type=float, default=0.05, show_default=True, help="LoRA dropout."),
        click.option("--target-modules", help="Comma-separated layer names (default: detected)."),
        click.option("--feedforward-modules", help="IA3 feed-forward layers (default: detected)."),
        click.option("--virtual-tokens", type=int, default=20, show_default=True,
                     help="Prompt tuning: number of virtual tokens (on a seq2seq base, "
                          "prepended to the encoder's input only)."),
        click.option("--prompt-init", help="Prompt tuning: start from this text's embeddings."),
        click.option("--format", "data_format", default="auto", show_default=True,
                     type=click.Choice(["auto", "instructions", "squad", "poems", "nli"])),
        click.option("--columns", metavar="FIELD=COLUMN,...",
                     help="Instructions in a TSV/CSV (or JSON) file: which column holds the "
                          "instruction, input and output, e.g. instruction=question,output=answer "
                          "[default: columns of those names]."),
        click.option("--holdout-articles", type=int, default=0, show_default=True,
                     help="SQuAD: keep the last N articles out of training."),
        click.option("--holdout-per-author", type=int, default=0, show_default=True,
                     help="Poems: keep each author's last N poems out of training."),
        click.option("--poem-max-tokens", type=int, default=600, show_default=True,
                     help="Poems: leave out longer poems."),
        click.option("--max-per-author", type=int,
                     help="Poems: train on at most N poems of each author (a seeded sample)."),
        click.option("--titles-from-first-lines", "first_line_titles", is_flag=True,
                     help="Poems: an untitled poem takes its first line as title (the seed "
                          "left untitled poems out)."),
        click.option("--max-examples", type=int, help="Use only the first N examples."),
        click.option("--test-data", type=click.Path(path_type=Path), multiple=True,
                     help="NLI: a file kept for the test (repeat); its set is not split."),
        click.option("--test-fraction", type=float, default=0.1, show_default=True,
                     help="NLI: share of each set without a --test-data file kept for the test."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@click.argument("method", metavar="{lora,ia3,prompt-tuning,lora+prompt-tuning}")
@_train_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def train(ctx: click.Context, method: str, base: str, data: tuple[Path, ...], out: Path | None,
          name: str | None, resume: bool, overwrite: bool, as_json: bool, **flags) -> None:
    """Train a LoRA, IA3 or prompt-tuning adapter on a base model, or LoRA and prompt
    tuning together as one adapter (lora+prompt-tuning, the seed 001's recipe).

    DATA is instruction JSONL (instruction/input/output, as lksy/ru_instruct_gpt4,
    or rulm seed tasks with instances), a TSV/CSV table of instructions (see
    --columns), a SQuAD file (grounded answers citing [n]) or a poem corpus
    (a file or a RusLit folder).  Writes peft's safetensors adapter and
    lira-adapter.json into --out (or LIRA_HOME/adapters/NAME).
    """
    run_train(ctx.obj, method, base, data, out, name, resume, overwrite, as_json,
              command_line(ctx), stage_printer(False), **flags)


@click.group("adapters")
def adapters_group() -> None:
    """List installed adapters, merge one into its base model, or export one for llama.cpp."""


@adapters_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def adapters_list(settings, as_json: bool) -> None:
    """Adapters in LIRA_HOME/adapters (and bundled ones) with their manifests."""
    list_adapters_cmd(settings, as_json)


@adapters_group.command("merge")
@click.argument("adapter")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the merged model.")
@click.option("--base", help="Base model (default: the one the adapter records).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.pass_obj
def adapters_merge(settings, adapter: str, out: Path, base: str | None, overwrite: bool) -> None:
    """Merge a LoRA or IA3 ADAPTER (a folder, or a name as --adapter takes it) into its base
    and save a full model folder."""
    merge_cmd(settings, adapter, out, base, overwrite, stage_printer(False))


@adapters_group.command("export-gguf")
@click.argument("adapter")
@click.option("--base", help="The base model's GGUF file or folder (default: the one the "
              "adapter records, or the chat model).")
@click.option("--quant", type=click.Choice(["f16", "q8_0", "q4_k_m"]),
              help="Requantise the merged model to this type (default: the base's types, "
                   "adapted weights as Q8_0); a LoRA GGUF (speed.merge_adapter off) stays "
                   "float32, it is small.")
@click.pass_obj
def adapters_export_gguf(settings, adapter: str, base: str | None, quant: str | None) -> None:
    """Merge a LoRA or IA3 ADAPTER into a GGUF copy of its base (or, with speed.merge_adapter
    off, export a LoRA as a llama.cpp LoRA GGUF), once: the file is kept beside the adapter
    (or under LIRA_HOME when that folder is read-only) and the llama.cpp engine uses it
    from then on."""
    export_gguf_cmd(settings, adapter, base, quant, stage_printer(False))


Progress = Callable[[str], None]


def adapters_home(settings: Settings) -> Path:
    """LIRA_HOME/adapters: where `lira train --name` writes and `lira adapters list` looks."""
    return settings.home / "adapters"


def run_train(settings: Settings, method: str, base: str, data: tuple[Path, ...], out: Path | None,
              name: str | None, resume: bool, overwrite: bool, as_json: bool, command: str,
              progress: Progress | None, **flags: Any) -> dict[str, Any]:
    """Train an adapter as `lira train` asks; returns its manifest."""
    from adapters.methods import check_method
    from adapters.training import TrainJob, train
    from assistant.runtime.models import resolve

    check_method(method)
    out_dir = _out_dir(settings, out, name)
    paths = [Path(p).expanduser() for p in data]
    for path in paths:
        if not path.exists():
            from adapters.errors import TrainingDataError

            raise TrainingDataError(f"data file {path} does not exist; check the path")
    options = train_options(method, settings.device, **flags)
    base_path = resolve(base, settings, progress)
    job = TrainJob(base_reference=base, base_path=base_path, data_paths=paths,
                   out_dir=out_dir, options=options, resume=resume, overwrite=overwrite,
                   command=command, progress=progress, stop=threading.Event())
    result = _run_stoppable(train, job)
    manifest = result.manifest
    if as_json:
        click.echo(json.dumps(manifest, ensure_ascii=False))
    else:
        outcome = manifest["result"]
        eval_loss = outcome["eval_loss"]
        click.echo(f"adapter {result.out_dir}: {method} on {base}, {outcome['steps']} steps, "
                   f"train loss {outcome['train_loss']:.4f}"
                   + (f", eval loss {eval_loss:.4f}" if eval_loss is not None else "")
                   + f", {manifest['wall_time_s']:.0f} s")
    return manifest


def train_options(method: str, device: str, **flags: Any) -> Any:
    """TrainOptions from the `lira train` flags."""
    from adapters.data_tables import parse_columns
    from adapters.methods import MethodOptions
    from adapters.training import TrainOptions
    from adapters.training_data import DataOptions

    adapter = MethodOptions(rank=flags.pop("rank"), alpha=flags.pop("alpha"),
                            dropout=flags.pop("dropout"),
                            target_modules=_names(flags.pop("target_modules")),
                            feedforward_modules=_names(flags.pop("feedforward_modules")),
                            virtual_tokens=flags.pop("virtual_tokens"),
                            prompt_init_text=flags.pop("prompt_init"))
    data = DataOptions(format=flags.pop("data_format"), seed=flags["seed"],
                       holdout_articles=flags.pop("holdout_articles"),
                       holdout_per_author=flags.pop("holdout_per_author"),
                       poem_max_tokens=flags.pop("poem_max_tokens"),
                       max_per_author=flags.pop("max_per_author"),
                       first_line_titles=flags.pop("first_line_titles"),
                       max_examples=flags.pop("max_examples"),
                       columns=parse_columns(flags.pop("columns")))
    return TrainOptions(method=method, adapter=adapter, data=data, device=device,
                        learning_rate=flags.pop("lr"), **flags)


def list_adapters_cmd(settings: Settings, as_json: bool) -> None:
    """Print the installed and bundled adapters with what their manifests say."""
    from adapters.registry import BUNDLED_DIR, list_adapters

    entries = list_adapters([("installed", adapters_home(settings)), ("bundled", BUNDLED_DIR)])
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return
    if not entries:
        click.echo(f"no adapters in {adapters_home(settings)} (train one with "
                   "`lira train METHOD --base MODEL --data FILE --name NAME`)")
    for e in entries:  # names, bases and paths come from folders and files: escaped
        if e.problem:
            click.echo(one_line(f"{e.name:<20} {e.source:<9} BROKEN: {e.problem}"))
            continue
        loss = e.eval_loss if e.eval_loss is not None else e.train_loss
        loss_text = f"{loss:.4f}" if isinstance(loss, (int, float)) else "-"
        click.echo(one_line(f"{e.name:<20} {e.source:<9} {e.method or '-':<13} {e.base or '-':<24} "
                            f"loss {loss_text:<8} {(e.created or '-')[:10]}  {e.path}"))


def merge_cmd(settings: Settings, adapter: str, out: Path, base: str | None, overwrite: bool,
              progress: Progress | None) -> None:
    """Merge an adapter into its base and print how much the logits moved."""
    from adapters.loading import inspect_adapter
    from adapters.merging import merge_adapter
    from assistant.runtime import compute
    from assistant.runtime.adapter_choice import named_adapter

    info = inspect_adapter(named_adapter(adapter, settings.home))
    base_path = _merge_base(settings, info, base, progress)
    report = compute.run(merge_adapter, info.path, base_path, out, overwrite=overwrite)
    click.echo(f"merged {report.method} adapter into {report.out_dir} (max logit difference "
               f"{report.max_abs_diff:.2e} of logits up to {report.max_abs_logit:.1f})")


def export_gguf_cmd(settings: Settings, adapter: str, base: str | None, quant: str | None,
                    progress: Progress | None) -> None:
    """Export an adapter for llama.cpp and say where the file is."""
    from adapters.loading import inspect_adapter
    from assistant.runtime.adapter_choice import named_adapter
    from assistant.runtime.engines import export_for_llama

    info = inspect_adapter(named_adapter(adapter, settings.home))
    run = export_for_llama(info.path, _gguf_base_reference(settings, info, base), settings,
                           progress or (lambda line: None), quant)
    made = run.lora or run.model
    click.echo(f"{made} ({made.stat().st_size / 2**20:.1f} MB): "
               + (f"a llama.cpp LoRA for {run.model.name}" if run.lora else
                  f"the base with {info.path.name} merged in"))


def _gguf_base_reference(settings: Settings, info: Any, base: str | None) -> str:
    """--base, else the base the adapter's manifest records, else the chat model."""
    from adapters.manifest import read_manifest

    if base:
        return base
    recorded = (read_manifest(info.path) or {}).get("base") or {}
    return recorded.get("reference") or info.base_model or settings.chat.model


def command_line(ctx: click.Context) -> str:
    """The command as a reproducible line: every option that is not at its default."""
    words: list[str] = []
    for level in reversed(_contexts(ctx)):
        words.append(level.info_name or "lira")
        for param in level.command.params:
            value = level.params.get(param.name)
            if isinstance(param, click.Argument):
                words.append(str(value))
            elif value is not None and value != param.default and value is not False:
                flag = max(param.opts, key=len)
                values = value if isinstance(value, (tuple, list)) else [value]
                for item in values:  # a repeated option is written once per value
                    words += [flag] if item is True else [flag, str(item)]
    words[0] = "lira"
    import shlex  # only for the manifest's command line

    return shlex.join(words)


def _contexts(ctx: click.Context) -> list[click.Context]:
    chain = []
    while ctx is not None:
        chain.append(ctx)
        ctx = ctx.parent
    return chain


def _run_stoppable(fn: Callable, job: Any) -> Any:
    """Run ``fn(job)`` on the compute thread; the first Ctrl+C stops it at a checkpoint."""
    from assistant.runtime import compute

    future = compute.submit(fn, job)
    try:
        return future.result()
    except KeyboardInterrupt:
        job.stop.set()
        click.echo("lira: stopping after this step to save a checkpoint "
                   "(Ctrl+C again to quit at once)", err=True)
    from adapters.errors import TrainingInterrupted

    try:
        return future.result()
    except TrainingInterrupted as exc:
        click.echo(f"lira: {exc}", err=True)
        raise KeyboardInterrupt from exc


def _out_dir(settings: Settings, out: Path | None, name: str | None) -> Path:
    if (out is None) == (name is None):
        raise SettingsError("give --out DIR or --name NAME (not both)")
    if name is not None:
        if not name.strip() or "/" in name or name.startswith("."):
            raise SettingsError(f"adapter name '{name}' must be a plain folder name")
        return adapters_home(settings) / name
    return Path(out).expanduser()


def _merge_base(settings: Settings, info: Any, base: str | None,
                progress: Progress | None) -> Path:
    """The base to merge into: --base, else the manifest's reference or path, else peft's."""
    from adapters.manifest import read_manifest
    from assistant.runtime.models import resolve

    if base:
        return resolve(base, settings, progress)
    recorded = (read_manifest(info.path) or {}).get("base") or {}
    candidates = [recorded.get("reference"), info.base_model]
    for reference in filter(None, candidates):
        try:
            return resolve(reference, settings, progress)
        except ModelNotFound:
            continue
    if recorded.get("path") and Path(recorded["path"]).is_dir():
        return Path(recorded["path"])
    raise ModelNotFound(f"cannot find the base of {info.path} "
                        f"({recorded.get('reference') or info.base_model or 'not recorded'}); "
                        "pass --base MODEL")


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (value or "").split(",") if n.strip())
