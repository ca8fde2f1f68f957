"""`python -m benchmarks.bench` (`make bench`): whole runs of this project against plain loops.

What a user waits for, per epoch: the training pass, the Test pass after it, checkpoints and
logging. For BN off and on, on the same data and model (batch 32), in one process:

- (a) the plain fp32 loop a user writes by hand: tensors in memory, a shuffled SGD pass, then
  Test in eval mode;
- (b) the same loop with the channels_last memory layout;
- (c) this project's default config (`train.py` with `data.val_fraction=0`, so that it
  evaluates Test after every epoch as the plain loop does): Trainer, data module, callbacks,
  checkpoints, TensorBoard and CSV logging;
- (d) this project's fast mode (`speed=fast`: bf16 mixed precision + channels_last);
- (e) (c) without the divergence check (`callbacks.divergence=null`): what the check costs;
- (f) (c) with Lightning's own hook dispatch (`trainer_speedups=false`), and (g) (c) with
  torchmetrics' own metrics (`model/metrics=torchmetrics`): what each patch of a library's
  private internals gains on whole runs (c/f, c/g).

An epoch of (c)-(e) is timed from its start to the next epoch's start (for the last, to the end
of its Test pass, checkpoints and logging), so it holds everything the run does per epoch; what
the run does once after its last epoch (the descent-path plot) is timed apart. The variants
run in `--rounds` rounds, in alternating order, each round `--warmup` + `--epochs` epochs: on
a shared machine the speed drifts by as much as the differences measured, and alternating
spreads a drift over every variant. Each ratio is the median of the rounds' ratios of median
epoch times.

Then, separately: the start-up (`train.py --help`, a config error, process start to the first
training step) and the per-step framework overhead (a step's time less its forward, backward
and optimizer step, measured with timers around each) of (b), of (c), and of Lightning's loop
alone: the plain loop's network in a LightningModule trained with no callbacks, loggers,
checkpoints or metrics, which is the part of (c)'s overhead that stays while runs use Lightning.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning import Callback, LightningModule, Trainer, seed_everything
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from bn2d_study.config.compose import train_config_composer
from bn2d_study.data.archive import DataSpec, ImageSplits
from bn2d_study.data.dhcd import TEST_IMAGES_PER_CLASS, TRAIN_IMAGES_PER_CLASS
from bn2d_study.data.source import prepare_images
from bn2d_study.lightning_ext import hook_dispatch
from bn2d_study.lightning_ext.profiler import NullProfiler
from bn2d_study.training import train
from bn2d_study.utils.atomic_write import atomic_write_text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 32
LEARNING_RATE = 0.001
SEED = 5842
VARIANTS = {
    "a": "plain fp32 loop",
    "b": "plain loop, channels_last",
    "c": "this project, default config",
    "d": "this project, speed=fast",
    "e": "this project, no divergence check",
    "f": "this project, Lightning's own hook dispatch",
    "g": "this project, torchmetrics' metrics",
}
PROJECT_OVERRIDES = {
    "c": [],
    "d": ["speed=fast"],
    "e": ["callbacks.divergence=null"],
    "f": ["trainer_speedups=false"],
    "g": ["model/metrics=torchmetrics"],
}
# The per-step rows whose overheads are compared (the plain loop's and this project's).
PLAIN_STEPS = f"(b) {VARIANTS['b']}"
PROJECT_STEPS = "(c) this project"
LIGHTNING_STEPS = "Lightning's loop alone: no callbacks, loggers, checkpoints or metrics"
# Ratios printed: (faster variant, reference variant).
RATIOS = (("c", "a"), ("c", "b"), ("d", "a"), ("e", "c"), ("c", "f"), ("c", "g"))


@dataclass
class StepTimes:
    """Seconds spent per training step, in total and in its compute parts."""

    steps: int = 0
    total: float = 0.0
    forward: float = 0.0
    backward: float = 0.0
    optimizer: float = 0.0

    def overhead_ms(self) -> float:
        """Per step: everything but forward, backward and the optimizer's update, in ms."""
        return (self.total - self.forward - self.backward - self.optimizer) / self.steps * 1e3

    def ms(self, part: str) -> float:
        """A part's mean per step, in ms."""
        return getattr(self, part) / self.steps * 1e3


@dataclass
class VariantResult:
    """One variant with BN on or off: each round's whole-epoch seconds."""

    variant: str
    use_batchnorm: bool
    rounds: list[list[float]] = field(default_factory=list)
    # Per round, this project only: the end of the run after its last epoch, in seconds.
    end_of_run: list[float] = field(default_factory=list)

    @property
    def epoch_s(self) -> float:
        """Median whole-epoch seconds over every measured epoch."""
        return statistics.median(s for round_s in self.rounds for s in round_s)


def ratio(fast: VariantResult, reference: VariantResult) -> tuple[float, list[float]]:
    """Speed of `fast` over `reference` (>1: faster): median of the rounds' ratios, and those."""
    by_round = [
        statistics.median(ref) / statistics.median(ours)
        for ours, ref in zip(fast.rounds, reference.rounds, strict=True)
    ]
    return statistics.median(by_round), by_round


# --- (a), (b): the plain loop -----------------------------------------------------------------


@cache
def default_config() -> DictConfig:
    """The default config, resolved (the study's network and data settings)."""
    with train_config_composer() as compose:
        cfg = compose([], Path(tempfile.mkdtemp(prefix="bn2d-bench-config-")))
        return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


def study_cnn(use_bn: bool, inplace_relu: bool = False) -> nn.Module:
    """The study's CNN as `model/net=cnn` configures it; ReLU as the protocol writes it
    (`nn.ReLU()`) unless `inplace_relu`."""
    return instantiate(default_config().model.net, inplace_relu=inplace_relu)(use_batchnorm=use_bn)


def device_tensors(
    images: Any, labels: Any, fmt: torch.memory_format, device: torch.device
) -> tuple[Tensor, Tensor]:
    """A split's uint8 images (N, H, W) as floats in [0, 1] (N, 1, H, W), and its labels."""
    x = torch.from_numpy(images).unsqueeze(1).to(device).float().div(255)
    return x.contiguous(memory_format=fmt), torch.from_numpy(labels).to(device)


class ShuffledBatches:
    """The plain loop's batches: a fresh permutation of the tensors each pass, split."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return -(-len(self.labels) // BATCH_SIZE)

    def __iter__(self) -> Any:
        order = torch.randperm(len(self.labels), device=self.labels.device)
        for idx in order.split(BATCH_SIZE):
            yield self.images[idx], self.labels[idx]


def plain_epochs(
    splits: ImageSplits,
    use_bn: bool,
    epochs: int,
    channels_last: bool,
    device: torch.device,
    steps: StepTimes | None = None,
    inplace_relu: bool = False,
) -> list[float]:
    """The loop a user writes: whole-epoch seconds (train + Test); timers per step if asked.

    Its network is the protocol's as written (`nn.ReLU()`), unless `inplace_relu`.
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    train_x, train_y = device_tensors(splits.train_images, splits.train_labels, fmt, device)
    test_x, test_y = device_tensors(splits.test_images, splits.test_labels, fmt, device)
    batches = ShuffledBatches(train_x, train_y)
    seed_everything(SEED, verbose=False)
    model = study_cnn(use_bn, inplace_relu=inplace_relu).to(device, memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    criterion = nn.CrossEntropyLoss()
    clock = time.perf_counter
    epoch_s = []
    for epoch in range(epochs):
        start = clock()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        previous: tuple[float, float, float, float] | None = None
        for x, y in batches:
            t0 = clock()
            if steps is not None and epoch > 0 and previous is not None:
                # As in the project: a step runs from one batch start to the next.
                steps.steps += 1
                steps.total += t0 - previous[0]
                steps.forward += previous[1]
                steps.backward += previous[2]
                steps.optimizer += previous[3]
            optimizer.zero_grad()
            t1 = clock()
            logits = model(x)
            t2 = clock()
            loss = criterion(logits, y)
            t3 = clock()
            loss.backward()
            t4 = clock()
            optimizer.step()
            t5 = clock()
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == y).sum()
            previous = (t0, t2 - t1, t4 - t3, t5 - t4)
        float(loss_sum), float(correct)  # waits for the device
        model.eval()
        with torch.no_grad():
            for x, y in zip(test_x.split(BATCH_SIZE), test_y.split(BATCH_SIZE), strict=True):
                loss_sum += criterion(model(x), y)
        float(loss_sum)
        epoch_s.append(clock() - start)
    return epoch_s


# --- (c)-(e): this project ----------------------------------------------------------------------


# The bench callbacks a run instantiated from its config (the last one is this run's).
_INSTANCES: list[Callback] = []


class EpochClock(Callback):
    """Bench only: the start of every training epoch, the end of the last, the end of fit.

    The last epoch ends once its Test pass, checkpoints and logging are done (`on_train_end`).
    What follows once per run (the descent-path plot, closing the loggers) is timed apart, as
    the start-up is: it is not a cost of each epoch.
    """

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.fit_end: float | None = None
        _INSTANCES.append(self)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Mark the epoch's start."""
        self.marks.append(time.perf_counter())

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Mark the end of the last epoch (its Test pass, checkpoints and logging included)."""
        self.marks.append(time.perf_counter())

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Mark the end of fit (this callback's hook runs after the others')."""
        self.fit_end = time.perf_counter()

    def epoch_s(self) -> list[float]:
        """Whole-epoch seconds."""
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]

    def end_of_run_s(self) -> float:
        """Seconds from the end of the last epoch to the end of fit."""
        assert self.fit_end is not None
        return self.fit_end - self.marks[-1]


class StepTimer(Callback):
    """Bench only: timers around each step's forward, backward and optimizer update.

    Hooks on the network's forward and the optimizer's step, and Lightning's backward hooks. A
    step runs from one batch start to the next, so each epoch's last batch is left out, and so
    is the first epoch (warm-up) and the evaluation's forwards.
    """

    def __init__(self) -> None:
        self.times = StepTimes()
        self._marks: dict[str, float] = {}
        self._pending = StepTimes()  # the parts of the step under way
        self._last_start: float | None = None
        self._in_step = self._counting = False
        _INSTANCES.append(self)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Hook the network and optimizer at the first epoch; count from the second on."""
        self._last_start = None
        if trainer.current_epoch == 0:
            net = pl_module.net  # type: ignore[attr-defined]
            net.register_forward_pre_hook(lambda *_: self._mark("forward"))
            net.register_forward_hook(lambda *_: self._add("forward", "forward"))
            trainer.optimizers[0].register_step_post_hook(
                lambda *_: self._add("optimizer", "backward_end")
            )
        self._counting = trainer.current_epoch > 0

    def _mark(self, name: str) -> None:
        self._marks[name] = time.perf_counter()

    def _add(self, part: str, since: str) -> None:
        if self._in_step:
            elapsed = time.perf_counter() - self._marks[since]
            setattr(self._pending, part, getattr(self._pending, part) + elapsed)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Close the previous step (a whole interval between batch starts) and open this one."""
        now = time.perf_counter()
        if self._counting and self._last_start is not None:
            done, times = self._pending, self.times
            times.steps += 1
            times.total += now - self._last_start
            times.forward += done.forward
            times.backward += done.backward
            times.optimizer += done.optimizer
        self._pending = StepTimes()
        self._last_start, self._in_step = now, True

    def on_before_backward(
        self, trainer: Trainer, pl_module: LightningModule, loss: Tensor
    ) -> None:
        """Start of the backward pass."""
        self._mark("backward")

    def on_after_backward(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """End of the backward pass; the optimizer's update comes next."""
        self._add("backward", "backward")
        self._mark("backward_end")

    def on_train_batch_end(self, *args: Any) -> None:
        """Forwards after this (evaluation) are not part of a training step."""
        self._in_step = False


def project_run(overrides: list[str], run_dir: Path, bench_callback: str) -> Any:
    """A run as `python train.py` makes it, plus one bench callback; returns that callback."""
    with train_config_composer() as compose:
        cfg = compose([*overrides, f"+callbacks.bench={{_target_:{bench_callback}}}"], run_dir)
        train(cfg)
    return _INSTANCES[-1]


# --- Lightning's loop alone -----------------------------------------------------------------------


class BareClassifier(LightningModule):
    """Bench only: the plain loop's network, loss and SGD in a LightningModule, and nothing else.

    No metrics and no logging; trained with no callbacks, loggers or checkpoints, its steps
    carry only what Lightning's own loop adds to the plain loop (with this project's hook
    dispatch, `hook_dispatch`, as the project runs).
    """

    def __init__(self, use_bn: bool, fmt: torch.memory_format) -> None:
        super().__init__()
        self.net = study_cnn(use_bn, inplace_relu=True).to(memory_format=fmt)
        self.criterion = nn.CrossEntropyLoss()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """The batch's loss."""
        images, targets = batch
        return self.criterion(self.net(images), targets)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Plain SGD, as in the plain loop."""
        return torch.optim.SGD(self.parameters(), lr=LEARNING_RATE)


def bare_lightning_steps(splits: ImageSplits, device: torch.device, epochs: int) -> StepTimes:
    """Per-step times of Lightning's loop alone (BN off, channels_last), by `StepTimer`."""
    fmt = torch.channels_last
    batches = ShuffledBatches(
        *device_tensors(splits.train_images, splits.train_labels, fmt, device)
    )
    seed_everything(SEED, verbose=False)
    model = BareClassifier(use_bn=False, fmt=fmt)
    timer = StepTimer()
    trainer = Trainer(
        max_epochs=epochs,
        accelerator=device.type,
        devices=1,
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        profiler=NullProfiler(),
    )
    hook_dispatch.install()
    trainer.fit(model, train_dataloaders=batches)
    return timer.times


# --- start-up -----------------------------------------------------------------------------------


class FirstStepClock(Callback):
    """Bench only: write the wall-clock time of the first training step to $BENCH_FIRST_STEP."""

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Write the time once, at the first step."""
        path = os.environ.get("BENCH_FIRST_STEP")
        if path and not Path(path).exists():
            Path(path).write_text(f"{time.time()}\n")


def startup_times(data_overrides: list[str], scratch: Path, repeats: int) -> dict[str, float]:
    """Median seconds of `train.py --help`, a config error, and process start to first step."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    train_py = [sys.executable, str(PROJECT_ROOT / "train.py")]
    commands = {
        "train.py --help": [*train_py, "--help"],
        "a config error (data.batch_size=0)": [*train_py, "data.batch_size=0"],
    }
    times: dict[str, list[float]] = {name: [] for name in [*commands, "start to first step"]}
    for index in range(repeats):
        for name, command in commands.items():
            start = time.time()
            subprocess.run(command, env=env, capture_output=True, cwd=scratch, check=False)
            times[name].append(time.time() - start)
        marker = scratch / f"first-step-{index}"
        start = time.time()
        subprocess.run(
            [
                *train_py,
                "trainer.max_epochs=1",
                "trainer.limit_train_batches=2",
                "trainer.limit_val_batches=1",
                "test=false",
                f"hydra.run.dir={scratch / f'startup-{index}'}",
                "+callbacks.first_step={_target_:benchmarks.bench.FirstStepClock}",
                *data_overrides,
            ],
            env={**env, "BENCH_FIRST_STEP": str(marker)},
            capture_output=True,
            cwd=scratch,
            check=True,
        )
        times["start to first step"].append(float(marker.read_text()) - start)
    return {name: statistics.median(values) for name, values in times.items()}


# --- the report ---------------------------------------------------------------------------------


def results_markdown(
    results: Sequence[VariantResult],
    startup: dict[str, float],
    steps: dict[str, StepTimes],
    header: str,
) -> str:
    """Every table and ratio as markdown."""
    lines = [
        header,
        "",
        "| variant | BN | whole epoch s | rounds (median epoch s) | end of run s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rounds = ", ".join(f"{statistics.median(s):.3f}" for s in r.rounds)
        end = f"{statistics.median(r.end_of_run):.3f}" if r.end_of_run else "-"
        lines.append(
            f"| ({r.variant}) {VARIANTS[r.variant]} | {'on' if r.use_batchnorm else 'off'} "
            f"| {r.epoch_s:.3f} | {rounds} | {end} |"
        )
    lines.append("")
    by_key = {(r.variant, r.use_batchnorm): r for r in results}
    for use_bn in (False, True):
        for fast, reference in RATIOS:
            if (fast, use_bn) in by_key and (reference, use_bn) in by_key:
                value, by_round = ratio(by_key[fast, use_bn], by_key[reference, use_bn])
                lines.append(
                    f"- BN {'on' if use_bn else 'off'}: {fast}/{reference} = {value:.3f} "
                    f"(rounds: {', '.join(f'{v:.3f}' for v in by_round)})"
                )
        if ("c", use_bn) in by_key:
            rounds = [statistics.median(s) for s in by_key["c", use_bn].rounds]
            lines.append(
                f"- BN {'on' if use_bn else 'off'}: run-to-run spread of (c): "
                f"{(max(rounds) - min(rounds)) / statistics.median(rounds) * 100:.1f}% "
                f"(max - min of its rounds over their median)"
            )
    if steps:
        lines += [
            "",
            "Per training step, BN off, ms (timers around forward, backward and the optimizer "
            "update; overhead = everything else):",
            "",
            "| variant | step | forward | backward | optimizer | overhead |",
            "|---|---|---|---|---|---|",
        ]
        for name, t in steps.items():
            parts = " | ".join(
                f"{t.ms(p):.3f}" for p in ("total", "forward", "backward", "optimizer")
            )
            lines.append(f"| {name} | {parts} | {t.overhead_ms():.3f} |")
        if PLAIN_STEPS in steps and PROJECT_STEPS in steps:
            plain, ours = steps[PLAIN_STEPS], steps[PROJECT_STEPS]
            lines.append("")
            lines.append(
                f"- framework overhead: {ours.overhead_ms() - plain.overhead_ms():+.3f} ms per "
                f"step more than the plain loop's"
            )
            if LIGHTNING_STEPS in steps:
                bare = steps[LIGHTNING_STEPS].overhead_ms() - plain.overhead_ms()
                lines.append(
                    f"- of which Lightning's loop alone: {bare:+.3f} ms per step more than the "
                    f"plain loop's"
                )
    if startup:
        lines += ["", "| start-up | seconds (median) |", "|---|---|"]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in startup.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--archive",
        type=Path,
        default=os.environ.get("DHCD_ARCHIVE"),
        help="local copy of the DHCD archive (default: $DHCD_ARCHIVE, else the cache/download)",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="the data cache folder")
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs per round")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured epochs before them")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the order")
    parser.add_argument("--variants", default="abcde", help="which of a-g to run")
    parser.add_argument("--startup-repeats", type=int, default=3, help="0 skips the start-up")
    parser.add_argument("--no-step-timers", action="store_true", help="skip the per-step timers")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--train-per-class", type=int, default=TRAIN_IMAGES_PER_CLASS)
    parser.add_argument("--test-per-class", type=int, default=TEST_IMAGES_PER_CLASS)
    parser.add_argument(
        "--output", type=Path, default=Path("logs/bench/bench.md"), help="markdown table file"
    )
    args = parser.parse_args(argv)
    if (
        args.epochs < 1
        or args.warmup < 0
        or args.rounds < 1
        or not set(args.variants) <= set(VARIANTS)
    ):
        parser.error("--epochs and --rounds must be >= 1, --warmup >= 0, --variants from 'abcdefg'")
    archive = Path(args.archive).expanduser().absolute() if args.archive else None
    data_dir = args.data_dir.expanduser().absolute()
    spec = DataSpec(train_per_class=args.train_per_class, test_per_class=args.test_per_class)
    data = default_config().data
    splits = prepare_images(data_dir, archive, data.url, spec, data.cache_name)
    data_overrides = [
        f"data.data_dir={data_dir}",
        f"data.train_per_class={args.train_per_class}",
        f"data.test_per_class={args.test_per_class}",
    ] + ([f"data.archive={archive}"] if archive else [])
    epochs = args.warmup + args.epochs
    device = torch.device(args.device)

    def common(use_bn: bool, epochs: int) -> list[str]:
        return [
            f"model.use_batchnorm={str(use_bn).lower()}",
            f"trainer.max_epochs={epochs}",
            "data.val_fraction=0",
            f"trainer={'gpu' if device.type == 'cuda' else 'cpu'}",
            "print_config=false",
            "test=false",  # the final best-checkpoint Test is once per run, not per epoch
            *data_overrides,
        ]

    results: list[VariantResult] = []
    steps: dict[str, StepTimes] = {}
    with tempfile.TemporaryDirectory(prefix="bn2d-bench-") as scratch_name:
        scratch = Path(scratch_name)

        def run(variant: str, use_bn: bool, index: int, result: VariantResult) -> None:
            if variant in "ab":
                epoch_s = plain_epochs(splits, use_bn, epochs, variant == "b", device)
            else:
                run_dir = scratch / f"{variant}-bn{use_bn}-{index}"
                overrides = [*common(use_bn, epochs), *PROJECT_OVERRIDES[variant]]
                clock = project_run(overrides, run_dir, "benchmarks.bench.EpochClock")
                epoch_s = clock.epoch_s()
                result.end_of_run.append(clock.end_of_run_s())
            result.rounds.append(epoch_s[args.warmup :])

        for use_bn in (False, True):
            found = {v: VariantResult(v, use_bn) for v in args.variants}
            for index in range(args.rounds):
                order = args.variants if index % 2 == 0 else args.variants[::-1]
                for variant in order:
                    run(variant, use_bn, index, found[variant])
            results += [found[v] for v in sorted(found)]
        if not args.no_step_timers:
            plain, plain_inplace = StepTimes(), StepTimes()
            plain_epochs(splits, False, 2, True, device, steps=plain)
            plain_epochs(splits, False, 2, True, device, steps=plain_inplace, inplace_relu=True)
            timer = project_run(
                common(False, 2), scratch / "step-timers", "benchmarks.bench.StepTimer"
            )
            steps = {
                PLAIN_STEPS: plain,
                "(b) with ReLU in place, as the project's network": plain_inplace,
                PROJECT_STEPS: timer.times,
                LIGHTNING_STEPS: bare_lightning_steps(splits, device, epochs=2),
            }
        startup = (
            startup_times(data_overrides, scratch, args.startup_repeats)
            if args.startup_repeats > 0
            else {}
        )
    processor = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    header = (
        f"Benchmark on {device.type}: {processor} ({torch.get_num_threads()} "
        f"torch threads, {os.cpu_count()} cores), torch {torch.__version__}: batch {BATCH_SIZE}, "
        f"{len(splits.train_labels)} train images; median of {args.rounds} rounds x "
        f"{args.epochs} epochs, each round after {args.warmup} warm-up; "
        f"`python -m benchmarks.bench {' '.join(argv if argv is not None else sys.argv[1:])}`"
    )
    text = results_markdown(results, startup, steps, header)
    atomic_write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    # Hydra instantiates the bench callbacks from `benchmarks.bench`: run that module's main,
    # not this copy of it (run as __main__), so that both see the same callbacks.
    from benchmarks import bench

    sys.exit(bench.main())
