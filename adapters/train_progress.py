"""Trainer callbacks: progress lines for the terminal, and stopping on request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Progress = Callable[[str], None]


def progress_callback(progress: Progress) -> Any:
    """A callback that reports steps, losses, speed and time left as one line each."""
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        def __init__(self) -> None:
            self.started = 0.0
            self.first_step = 0
            self.first_tokens = 0
            self.evaluated_at = -1

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.monotonic(), state.global_step
            self.first_tokens = state.num_input_tokens_seen
            resumed = f", resuming at step {state.global_step}" if state.global_step else ""
            plural = "s" if state.max_steps != 1 else ""
            progress(f"training for {state.max_steps} step{plural}{resumed}")

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            step = f"step {state.global_step}/{state.max_steps}"
            if "eval_loss" in logs:
                if state.global_step != self.evaluated_at:  # the final evaluation repeats the last
                    progress(f"{step}  eval loss {logs['eval_loss']:.4f}")
                self.evaluated_at = state.global_step
            elif "loss" in logs:
                progress(f"{step}  loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}"
                         f"{self._pace(state)}")

        def _pace(self, state) -> str:
            done = state.global_step - self.first_step
            if done <= 0:
                return ""
            elapsed = time.monotonic() - self.started
            per_step = elapsed / done
            left = per_step * (state.max_steps - state.global_step)
            tokens = (state.num_input_tokens_seen - self.first_tokens) / max(elapsed, 1e-9)
            return f"  {per_step:.2f} s/step  {tokens:.0f} tok/s  {_duration(left)} left"

    return ProgressLines()


def stop_callback(stop: threading.Event) -> Any:
    """A callback that saves a checkpoint and ends training once ``stop`` is set."""
    from transformers import TrainerCallback

    class StopOnRequest(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if stop.is_set():
                control.should_save = True
                control.should_training_stop = True

    return StopOnRequest()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
