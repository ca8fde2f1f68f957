"""`python -m bn2d_study.bench`: training speed of this project against two plain loops.

For BN off and on, same data, same model, batch 32, in one process:

- (a) the study's loop: torchvision `ImageFolder` over PNG files, grayscale + to-tensor
  transforms, `DataLoader(shuffle=True)`, a plain SGD loop;
- (b) a framework-free loop over in-memory tensors (this machine's practical limit);
- (c) this project's path: `train.py`'s config, Trainer, data module, module, default
  callbacks and loggers (`bn2d_study.training.train`).

The variants run in `--rounds` rounds, in the order a, b, c and then c, b, a (and so on), so
that a drift of the machine's speed, which on a shared 2-core machine is as large as the
differences measured, falls on every variant alike. Each round trains `--warmup` + `--epochs`
epochs; the table gives the median over all rounds' measured epochs (training images per
second, seconds per training pass and per Test evaluation) and the peak memory. The ratios
c/b and c/a of training throughput are the median of the rounds' ratios, so that one round
spoiled by a slow spell does not decide them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from lightning import seed_everything
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bn2d_study.data.archive import (
    DHCD_URL,
    TEST_IMAGES_PER_CLASS,
    TRAIN_IMAGES_PER_CLASS,
    DigitSplits,
)
from bn2d_study.data.source import prepare_digits
from bn2d_study.models.cnn import build_cnn
from bn2d_study.run_folder import METRICS_CSV, read_epoch_metrics
from bn2d_study.training import train
from bn2d_study.utils.atomic_write import atomic_write_text
from bn2d_study.utils.compose import train_config_composer
from bn2d_study.utils.peak_memory import PeakMemory

BATCH_SIZE = 32
LEARNING_RATE = 0.001
SEED = 5842
VARIANTS = {
    "a": "study loop (ImageFolder + PIL)",
    "b": "framework-free, in-memory",
    "c": "this project (train.py path)",
}


class Timings(NamedTuple):
    """Seconds of each epoch's training pass and Test evaluation, warm-up included."""

    epoch_s: list[float]
    eval_s: list[float]


@dataclass(frozen=True)
class BenchResult:
    """One variant with BN on or off."""

    variant: str
    use_batchnorm: bool
    train_images: int
    round_epoch_s: list[list[float]]  # training pass of each measured epoch, by round
    round_eval_s: list[list[float]]  # Test evaluation of each measured epoch, by round
    peak_mib: float

    @property
    def epoch_s(self) -> list[float]:
        """Every measured epoch's training seconds."""
        return [s for round_s in self.round_epoch_s for s in round_s]

    @property
    def eval_s(self) -> list[float]:
        """Every measured epoch's Test evaluation seconds."""
        return [s for round_s in self.round_eval_s for s in round_s]

    @property
    def images_per_s(self) -> float:
        """Training throughput at the median epoch."""
        return self.train_images / statistics.median(self.epoch_s)


def throughput_ratio(top: BenchResult, bottom: BenchResult) -> tuple[float, list[float]]:
    """Training throughput of `top` over `bottom`: the median of the rounds' ratios, and those.

    Each round's ratio compares epochs run minutes apart, so a spell of a slower machine
    (another tenant, a clock change) that spoils one round leaves the median alone.
    """
    ratios = [
        statistics.median(bottom_s) / statistics.median(top_s)
        for top_s, bottom_s in zip(top.round_epoch_s, bottom.round_epoch_s, strict=True)
    ]
    return statistics.median(ratios), ratios


def _write_image_folders(splits: DigitSplits, root: Path) -> None:
    """PNG files in ImageFolder layout; names keep the data set's order within each class."""
    for split in ("train", "test"):
        images, labels = getattr(splits, f"{split}_images"), getattr(splits, f"{split}_labels")
        for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / f"digit_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, mode="L").save(folder / f"{index:06d}.png")


def _plain_epochs(
    model: nn.Module,
    train_batches: Callable[[], Sequence[tuple[Tensor, Tensor]]],
    test_batches: Callable[[], Sequence[tuple[Tensor, Tensor]]],
    epochs: int,
    device: torch.device,
) -> Timings:
    """The study's plain loop: SGD over shuffled batches, then Test in eval mode, per epoch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    criterion = nn.CrossEntropyLoss()
    epoch_s, eval_s = [], []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        for images, labels in train_batches():
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()
            # The study records the mean train loss and accuracy of the pass.
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == labels).sum()
        float(loss_sum), float(correct)  # wait for the device before stopping the clock
        epoch_s.append(time.perf_counter() - start)
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            test_loss, test_correct = torch.zeros((), device=device), torch.zeros((), device=device)
            for images, labels in test_batches():
                images, labels = images.to(device), labels.to(device)
                logits = model(images)
                test_loss += criterion(logits, labels)
                test_correct += (logits.argmax(1) == labels).sum()
            float(test_loss), float(test_correct)
        eval_s.append(time.perf_counter() - start)
    return Timings(epoch_s, eval_s)


def bench_study_loop(image_root: Path, use_bn: bool, epochs: int, device: torch.device) -> Timings:
    """(a): ImageFolder + grayscale + ToTensor, `DataLoader(shuffle=True)`."""
    to_tensor = transforms.Compose([transforms.Grayscale(), transforms.ToTensor()])
    train_set = datasets.ImageFolder(str(image_root / "train"), transform=to_tensor)
    test_set = datasets.ImageFolder(str(image_root / "test"), transform=to_tensor)
    seed_everything(SEED, verbose=False)
    model = build_cnn(use_batchnorm=use_bn).to(device)
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=BATCH_SIZE)
    return _plain_epochs(model, lambda: train_loader, lambda: test_loader, epochs, device)


def bench_in_memory_loop(
    splits: DigitSplits, use_bn: bool, epochs: int, device: torch.device
) -> Timings:
    """(b): float tensors on the device, a random permutation sliced into batches."""
    train_x = torch.from_numpy(splits.train_images).unsqueeze(1).to(device).float().div(255)
    train_y = torch.from_numpy(splits.train_labels).to(device)
    test_x = torch.from_numpy(splits.test_images).unsqueeze(1).to(device).float().div(255)
    test_y = torch.from_numpy(splits.test_labels).to(device)
    seed_everything(SEED, verbose=False)
    model = build_cnn(use_batchnorm=use_bn).to(device)

    def train_batches() -> list[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(train_y), device=device)
        return [(train_x[idx], train_y[idx]) for idx in order.split(BATCH_SIZE)]

    def test_batches() -> list[tuple[Tensor, Tensor]]:
        return list(zip(test_x.split(BATCH_SIZE), test_y.split(BATCH_SIZE), strict=True))

    return _plain_epochs(model, train_batches, test_batches, epochs, device)


def bench_project(
    data_overrides: list[str],
    use_bn: bool,
    epochs: int,
    device: torch.device,
    run_dir: Path,
) -> Timings:
    """(c): a run as `python train.py experiment=paper` makes it (loggers and callbacks on)."""
    overrides = [
        "experiment=paper",
        f"model.use_batchnorm={str(use_bn).lower()}",
        f"trainer.max_epochs={epochs}",
        f"trainer={'gpu' if device.type == 'cuda' else 'cpu'}",
        "test=false",  # the final best-checkpoint Test is not part of the per-epoch timing
        "print_config=false",
        *data_overrides,
    ]
    with train_config_composer() as compose:
        cfg = compose(overrides, output_dir=run_dir)
        train(cfg)
    per_epoch, _ = read_epoch_metrics(run_dir / METRICS_CSV)
    epochs_done = sorted(e for e in per_epoch if "time/train_epoch_s" in per_epoch[e])
    return Timings(
        [per_epoch[e]["time/train_epoch_s"] for e in epochs_done],
        [per_epoch[e]["time/eval_epoch_s"] for e in epochs_done],
    )


def results_markdown(results: Sequence[BenchResult], header: str) -> str:
    """The benchmark's table and ratios as markdown."""
    lines = [
        header,
        "",
        "| variant | BN | train images/s | train s/epoch | Test eval s | peak memory MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| ({r.variant}) {VARIANTS[r.variant]} | {'on' if r.use_batchnorm else 'off'} "
            f"| {r.images_per_s:.0f} | {statistics.median(r.epoch_s):.3f} "
            f"| {statistics.median(r.eval_s):.3f} | {r.peak_mib:.0f} |"
        )
    lines.append("")
    by_key = {(r.variant, r.use_batchnorm): r for r in results}
    for use_bn in (False, True):
        for top, bottom in (("c", "b"), ("c", "a")):
            if (top, use_bn) in by_key and (bottom, use_bn) in by_key:
                ratio, by_round = throughput_ratio(by_key[top, use_bn], by_key[bottom, use_bn])
                lines.append(
                    f"- BN {'on' if use_bn else 'off'}: {top}/{bottom} = {ratio:.2f} "
                    f"(training throughput; median of the rounds' "
                    f"{', '.join(f'{r:.2f}' for r in by_round)})"
                )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bn2d_study.bench", description=__doc__.split("\n")[0]
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
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of all variants, alternating their order"
    )
    parser.add_argument("--variants", default="abc", help="which of a, b, c to run")
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
        parser.error(
            "--epochs and --rounds must be >= 1, --warmup >= 0, --variants letters from 'abc'"
        )
    device = torch.device(args.device)
    archive = Path(args.archive).expanduser().absolute() if args.archive else None
    data_dir = args.data_dir.expanduser().absolute()
    splits = prepare_digits(data_dir, archive, DHCD_URL, args.train_per_class, args.test_per_class)
    train_images = len(splits.train_labels)
    data_overrides = [
        f"data.data_dir={data_dir}",
        f"data.train_per_class={args.train_per_class}",
        f"data.test_per_class={args.test_per_class}",
    ] + ([f"data.archive={archive}"] if archive else [])
    total_epochs = args.warmup + args.epochs
    results = []
    with tempfile.TemporaryDirectory(prefix="bn2d-bench-") as scratch:
        scratch_dir = Path(scratch)
        if "a" in args.variants:
            _write_image_folders(splits, scratch_dir / "images")

        def run_variant(variant: str, use_bn: bool, round_index: int) -> Timings:
            if variant == "a":
                return bench_study_loop(scratch_dir / "images", use_bn, total_epochs, device)
            if variant == "b":
                return bench_in_memory_loop(splits, use_bn, total_epochs, device)
            run_dir = scratch_dir / f"run-bn-{use_bn}-round-{round_index}"
            return bench_project(data_overrides, use_bn, total_epochs, device, run_dir)

        for use_bn in (False, True):
            epoch_s: dict[str, list[list[float]]] = {v: [] for v in args.variants}
            eval_s: dict[str, list[list[float]]] = {v: [] for v in args.variants}
            peak_mib: dict[str, list[float]] = {v: [] for v in args.variants}
            for round_index in range(args.rounds):
                order = args.variants if round_index % 2 == 0 else args.variants[::-1]
                for variant in order:
                    with PeakMemory(device) as memory:
                        timings = run_variant(variant, use_bn, round_index)
                    epoch_s[variant].append(timings.epoch_s[args.warmup :])
                    eval_s[variant].append(timings.eval_s[args.warmup :])
                    peak_mib[variant].append(memory.peak_mib)
            results += [
                BenchResult(v, use_bn, train_images, epoch_s[v], eval_s[v], max(peak_mib[v]))
                for v in sorted(args.variants)
            ]
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    )
    header = (
        f"Benchmark on {device.type} ({device_name or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores), torch "
        f"{torch.__version__}: batch {BATCH_SIZE}, {train_images} train images, median of "
        f"{args.rounds} rounds x {args.epochs} epochs, each round after {args.warmup} warm-up; "
        f"`python -m bn2d_study.bench {' '.join(argv if argv is not None else sys.argv[1:])}`"
    )
    text = results_markdown(results, header)
    atomic_write_text(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
