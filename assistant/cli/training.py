"""The glue behind `lira train` and `lira adapters`: settings, model references, printing.

The work itself is in ``adapters``; this module resolves model references with
Lira's settings, runs the work on the compute thread, turns Ctrl+C into a
checkpointed stop, and prints the results.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from assistant.errors import ModelNotFound, SettingsError
from assistant.runtime import compute
from assistant.settings import Settings

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
                       max_examples=flags.pop("max_examples"))
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
    for e in entries:
        if e.problem:
            click.echo(f"{e.name:<20} {e.source:<9} BROKEN: {e.problem}")
            continue
        loss = e.eval_loss if e.eval_loss is not None else e.train_loss
        loss_text = f"{loss:.4f}" if isinstance(loss, (int, float)) else "-"
        click.echo(f"{e.name:<20} {e.source:<9} {e.method or '-':<13} {e.base or '-':<24} "
                   f"loss {loss_text:<8} {(e.created or '-')[:10]}  {e.path}")


def merge_cmd(settings: Settings, adapter: Path, out: Path, base: str | None, overwrite: bool,
              progress: Progress | None) -> None:
    """Merge an adapter into its base and print how much the logits moved."""
    from adapters.loading import inspect_adapter
    from adapters.merging import merge_adapter

    info = inspect_adapter(adapter)
    base_path = _merge_base(settings, info, base, progress)
    report = compute.run(merge_adapter, info.path, base_path, out, overwrite=overwrite)
    click.echo(f"merged {report.method} adapter into {report.out_dir} (max logit difference "
               f"{report.max_abs_diff:.2e} of logits up to {report.max_abs_logit:.1f})")


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
    return shlex.join(words)


def _contexts(ctx: click.Context) -> list[click.Context]:
    chain = []
    while ctx is not None:
        chain.append(ctx)
        ctx = ctx.parent
    return chain


def _run_stoppable(fn: Callable, job: Any) -> Any:
    """Run ``fn(job)`` on the compute thread; the first Ctrl+C stops it at a checkpoint."""
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
