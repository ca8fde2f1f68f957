"""Typed schema of `configs/train.yaml`: Hydra merges every YAML onto these dataclasses, so a
wrong type or unknown key fails at composition, and `validate_config` checks value ranges
before anything is built.

The options of this package's components (data module, module, network, callbacks) are stated
here once, each with a comment: their defaults and their checks. The components' signatures
take their defaults from these classes (`defaults_of`), and run the same checks; the YAML
files set only targets, interpolations and values that differ. The schema is the source, not
the signatures, because it must load in a fraction of a second, without torch or Lightning: a
config error shows before either is imported. `python train.py --cfg job` prints the composed
config.
"""

from __future__ import annotations

import re
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bn2d_study.config.history import MOVED_TO_NET
from bn2d_study.data.dhcd import (
    DHCD_URL,
    DIGIT_CLASSES,
    IMAGE_SIZE,
    NUM_CLASSES,
    TEST_IMAGES_PER_CLASS,
    TRAIN_IMAGES_PER_CLASS,
)
from bn2d_study.errors import ConfigError

# OmegaConf 2.3 reads `Optional[X]` but not `X | None` in dataclass fields: hence `noqa: UP045`.


def _require(condition: bool, key: str, value: Any, rule: str) -> None:
    if not condition:
        raise ConfigError(
            f"{key}={value!r} is invalid: {rule}. Fix it on the command line "
            f"({key}=...) or in its YAML file under configs/."
        )


@dataclass
class DataConfig:
    """Options of `HindiDigitsDataModule` (`data=dhcd`)."""

    _target_: str = "bn2d_study.data.HindiDigitsDataModule"
    # Where the prepared cache and a downloaded archive are kept.
    data_dir: str = "data"
    # A local copy of the official zip (or another archive or folder of the same layout),
    # used when no cache exists yet; null downloads from `url`.
    archive: Optional[str] = None  # noqa: UP045
    url: str = DHCD_URL
    # Images per batch, for training and evaluation alike (as in the study).
    batch_size: int = 32
    # Share of Train held out for validation; 0 evaluates on Test every epoch (as the study did).
    val_fraction: float = 0.1
    # Seed of the held-out split's own generator: the same split for every run seed.
    split_seed: int = 0
    # In-memory batches are cheap: worker processes cost more than they save.
    num_workers: int = 0
    pin_memory: bool = False
    # Standardize with the train split's mean/std (the study did not: pixel / 255 only).
    normalize: bool = False
    # Which class folders to read (a regular expression): the 10 digits of the archive's 46.
    classes: str = DIGIT_CLASSES
    # Classes it must find; the network's outputs (model.net.num_classes) follow it.
    num_classes: int = NUM_CLASSES
    # Width and height of every image, in pixels; the network's input follows it.
    image_size: int = IMAGE_SIZE
    # Images each class must hold (null: any number); lower only for small archives of tests.
    train_per_class: Optional[int] = TRAIN_IMAGES_PER_CLASS  # noqa: UP045
    test_per_class: Optional[int] = TEST_IMAGES_PER_CLASS  # noqa: UP045
    # The prepared cache's file in data_dir; another data set needs another.
    cache_name: str = "dhcd-digits.pt"
    # Hold the data on the training device and draw each batch there by index (the same
    # batches as the DataLoader path): auto = in a single process with num_workers 0 (CPU or
    # GPU); true = always; false = never.
    device_resident: Any = "auto"

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "data.batch_size", self.batch_size, "it must be >= 1")
        _require(
            self.device_resident in (True, False, "auto"),
            "data.device_resident",
            self.device_resident,
            "it must be auto, true or false",
        )
        _require(
            0 <= self.val_fraction < 1,
            "data.val_fraction",
            self.val_fraction,
            "it must be in [0, 1); 0 evaluates on Test every epoch",
        )
        _require(self.num_workers >= 0, "data.num_workers", self.num_workers, "it must be >= 0")
        for key in ("train_per_class", "test_per_class"):
            value = getattr(self, key)
            _require(value is None or value >= 1, f"data.{key}", value, "it must be >= 1 or null")
        for key in ("num_classes", "image_size"):
            _require(getattr(self, key) >= 1, f"data.{key}", getattr(self, key), "it must be >= 1")
        try:
            re.compile(self.classes)
        except re.error as error:
            _require(False, "data.classes", self.classes, f"not a regular expression ({error})")
        if self.archive is not None:
            _require(
                Path(self.archive).expanduser().exists(),
                "data.archive",
                self.archive,
                f"no such file or folder (set by data.archive or DHCD_ARCHIVE; relative paths "
                f"start at {Path.cwd()}); point it at the official DHCD zip (or an archive or "
                f"folder of the same layout), or unset it (data.archive=null) to download "
                f"{DHCD_URL}",
            )


@dataclass
class CnnConfig:
    """Options of `build_cnn` (`model.net` with the default `model/net=cnn`)."""

    _target_: str = "bn2d_study.models.build_cnn"
    _partial_: bool = True  # the module calls it with model.use_batchnorm
    conv_layers: int = 3  # [Conv2d (BatchNorm2d) ReLU] blocks
    filters: int = 16  # output channels of each convolution
    kernel_size: int = 3  # odd: convolutions use "same" padding
    pool_size: int = 2  # the one MaxPool2d after the blocks
    image_size: int = IMAGE_SIZE  # the input's width and height (data.image_size)
    num_classes: int = NUM_CLASSES  # the outputs (data.num_classes)
    # > 0: Dropout before the last layer (the example switch of docs/adapt.md).
    dropout: float = 0.0
    # ReLU overwrites its input instead of allocating its output: the same numbers, bit for bit,
    # in less time (docs/performance.md); false builds the protocol's `nn.ReLU()` as written.
    inplace_relu: bool = True

    def __post_init__(self) -> None:
        for key in ("conv_layers", "filters", "pool_size", "num_classes", "image_size"):
            value = getattr(self, key)
            _require(value >= 1, f"model.net.{key}", value, "it must be >= 1")
        _require(
            self.kernel_size >= 1 and self.kernel_size % 2 == 1,
            "model.net.kernel_size",
            self.kernel_size,
            "it must be odd (same padding)",
        )
        _require(
            self.pool_size <= self.image_size,
            "model.net.pool_size",
            self.pool_size,
            f"it must be <= the image size, {self.image_size}",
        )
        _require(0 <= self.dropout < 1, "model.net.dropout", self.dropout, "it must be in [0, 1)")


# The moved keys (MOVED_TO_NET) are still keys of the schema, so that `model.filters=8` gets
# an error that names the new key instead of Hydra's "not in struct".


def model_node(cfg: DictConfig) -> DictConfig:
    """`cfg.model`, resolved, without the moved keys: what `DigitClassifier` is built from."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(model, dict)
    return OmegaConf.create({k: v for k, v in model.items() if k not in MOVED_TO_NET})


@dataclass
class ModelConfig:
    """Options of `DigitClassifier`; the network's own under `net`."""

    _target_: str = "bn2d_study.models.DigitClassifier"
    # BatchNorm2d right after each Conv2d, before its ReLU: the switch the study is about. The
    # module passes it to the network it builds.
    use_batchnorm: bool = True
    # The network: a partial that the module calls with use_batchnorm (model/net=<name>);
    # checked against CnnConfig when it is the study's CNN.
    net: Any = MISSING
    # A partial optimizer, called with the parameters (configs/model/cnn.yaml: plain SGD).
    optimizer: Any = MISSING
    # Each split's metrics, name -> torchmetrics Metric (model/metrics=lean|torchmetrics).
    metrics: Any = MISSING
    # A partial LR scheduler stepped once per epoch, e.g. torch.optim.lr_scheduler.StepLR.
    scheduler: Any = None
    # NHWC memory layout for the convolutions (experiment=paper keeps the study's NCHW).
    channels_last: bool = True
    # torch.compile the network (its first steps are slow while it compiles).
    compile: bool = False
    # torch.compile mode: null/default; reduce-overhead also captures CUDA graphs of the steps.
    compile_mode: Optional[str] = None  # noqa: UP045
    conv_layers: Optional[int] = None  # noqa: UP045
    filters: Optional[int] = None  # noqa: UP045
    kernel_size: Optional[int] = None  # noqa: UP045
    pool_size: Optional[int] = None  # noqa: UP045
    num_classes: Optional[int] = None  # noqa: UP045

    def __post_init__(self) -> None:
        for key in MOVED_TO_NET:
            value = getattr(self, key)
            _require(
                value is None,
                f"model.{key}",
                value,
                f"the network's options moved under model.net: write model.net.{key}={value}",
            )
        _require(
            not isinstance(self.metrics, dict) or bool(self.metrics),
            "model.metrics",
            self.metrics,
            "it needs at least one metric; choose model/metrics=lean or model/metrics=torchmetrics",
        )
        _require(
            self.compile_mode in (None, "default", "reduce-overhead", "max-autotune"),
            "model.compile_mode",
            self.compile_mode,
            "it must be null, default, reduce-overhead or max-autotune",
        )
        if isinstance(self.net, dict) and self.net.get("_target_") == CnnConfig._target_:
            CnnConfig(**self.net)


# The callbacks' options are stated here once: their defaults (the callbacks' signatures take
# them from these classes, via `defaults_of`) and their checks (the callbacks run them too).


@dataclass
class SampledWeightsConfig:
    """Options of `SampledWeightsLogger`."""

    _target_: str = "bn2d_study.callbacks.SampledWeightsLogger"
    output_dir: str = MISSING
    # Two full indices into the layer's weight (out filter, in channel, row, column): the study's.
    indices: list[list[int]] = field(default_factory=lambda: [[3, 4, 1, 0], [3, 8, 1, 0]])
    # The module's name in the LightningModule, such as net.4; null takes the last Conv2d.
    layer: Optional[str] = None  # noqa: UP045
    # Also record after every training step, for a finer path.
    every_step: bool = False

    def __post_init__(self) -> None:
        _require(
            len(self.indices) == 2,
            "callbacks.sampled_weights.indices",
            self.indices,
            "it must hold exactly two weight indices",
        )


@dataclass
class LossLandscapeConfig:
    """Options of `LossLandscapeProbe` (`callbacks=landscape`)."""

    _target_: str = "bn2d_study.callbacks.LossLandscapeProbe"
    # Probe every N optimizer steps; each probe costs len(step_sizes) + 1 forward/backward passes.
    every_n_steps: int = 50
    # Distances moved along the current gradient (w - eta * grad). The paper moves up to a few
    # learning rates of its VGG (lr 0.1); the study's lr 0.001 is far smaller, so these span the
    # region the optimizer could reach with larger steps.
    step_sizes: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.4])

    def __post_init__(self) -> None:
        _require(
            self.every_n_steps >= 1,
            "callbacks.loss_landscape.every_n_steps",
            self.every_n_steps,
            "it must be >= 1",
        )
        _require(
            bool(self.step_sizes) and all(eta > 0 for eta in self.step_sizes),
            "callbacks.loss_landscape.step_sizes",
            self.step_sizes,
            "it must be a non-empty list of positive numbers",
        )


@dataclass
class DivergenceConfig:
    """Options of `DivergenceStop`."""

    _target_: str = "bn2d_study.callbacks.DivergenceStop"
    # Read the on-device running sum of train losses every N steps (and after each epoch's last
    # batch): no device synchronisation on the other steps.
    check_every_n_steps: int = 20

    def __post_init__(self) -> None:
        _require(
            self.check_every_n_steps >= 1,
            "callbacks.divergence.check_every_n_steps",
            self.check_every_n_steps,
            "it must be >= 1",
        )


def defaults_of(schema: type) -> dict[str, Any]:
    """A schema class's defaults by field name (lists as tuples: signature defaults must not
    be mutable), for the signatures of the classes it configures."""
    found: dict[str, Any] = {}
    for item in fields(schema):
        if item.default is not MISSING_FIELD:
            found[item.name] = item.default
        elif item.default_factory is not MISSING_FIELD:
            value = item.default_factory()
            found[item.name] = (
                tuple(tuple(v) if isinstance(v, list) else v for v in value)
                if isinstance(value, list)
                else value
            )
    return found


@dataclass
class CallbacksConfig:
    """The run's callbacks; set one to null to drop it."""

    model_checkpoint: Any = None
    divergence: Optional[DivergenceConfig] = None  # noqa: UP045
    epoch_timer: Any = None
    sampled_weights: Optional[SampledWeightsConfig] = None  # noqa: UP045
    loss_landscape: Optional[LossLandscapeConfig] = None  # noqa: UP045
    tensorboard_layout: Any = None
    random_states: Any = None
    progress_bar: Any = None
    interrupted_checkpoint: Any = None


@dataclass
class TrainerConfig:
    """`lightning.Trainer`'s arguments, typed; each means what Lightning's docs say.

    Defaults are Lightning's, except where configs/trainer/default.yaml sets the study's.
    docs/lightning-flags.md lists the flags tested against a plain Lightning Trainer.
    """

    _target_: str = "lightning.pytorch.Trainer"
    default_root_dir: str = MISSING
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: Any = "auto"
    sync_batchnorm: bool = False
    num_nodes: int = 1
    precision: Any = "32-true"
    # false or [] (Lightning's ways of saying "no logger") drop the `logger` group's loggers;
    # null uses them. The loggers themselves are chosen with the `logger` group.
    logger: Any = None
    fast_dev_run: Any = False
    min_epochs: Optional[int] = None  # noqa: UP045
    max_epochs: Optional[int] = 30  # noqa: UP045
    min_steps: Optional[int] = None  # noqa: UP045
    max_steps: int = -1
    max_time: Any = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    limit_predict_batches: Any = None
    overfit_batches: Any = 0.0
    val_check_interval: Any = None
    check_val_every_n_epoch: Optional[int] = 1  # noqa: UP045
    num_sanity_val_steps: Optional[int] = 0  # noqa: UP045
    log_every_n_steps: Optional[int] = 50  # noqa: UP045
    enable_checkpointing: Optional[bool] = None  # noqa: UP045
    enable_progress_bar: Optional[bool] = True  # noqa: UP045
    enable_model_summary: Optional[bool] = True  # noqa: UP045
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None  # noqa: UP045
    gradient_clip_algorithm: Optional[str] = None  # noqa: UP045
    deterministic: Any = False
    benchmark: Optional[bool] = None  # noqa: UP045
    inference_mode: bool = True
    use_distributed_sampler: bool = True
    profiler: Any = None
    detect_anomaly: bool = False
    barebones: bool = False
    plugins: Any = None
    reload_dataloaders_every_n_epochs: int = 0

    def __post_init__(self) -> None:
        _require(
            self.max_epochs is None or self.max_epochs >= 1 or self.max_epochs == -1,
            "trainer.max_epochs",
            self.max_epochs,
            "it must be >= 1, or -1 (no limit: stop by trainer.max_steps or trainer.max_time)",
        )
        _require(
            self.logger in (None, True, False) or self.logger == [],
            "trainer.logger",
            self.logger,
            "it must be null (the loggers of the `logger` group), or false or [] (no logger); "
            "choose loggers with the group instead, e.g. logger=csv or logger=[csv,tensorboard]",
        )


@dataclass
class PathsConfig:
    """Where data and logs go."""

    root_dir: str = MISSING
    data_dir: str = MISSING
    log_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class RunLockConfig:
    """How a run holds its folder (`bn2d_study.run_folder.lock.RunLock`)."""

    heartbeat_s: float = 30.0
    stale_after_s: float = 300.0

    def __post_init__(self) -> None:
        _require(self.heartbeat_s > 0, "run_lock.heartbeat_s", self.heartbeat_s, "it must be > 0")
        _require(
            self.stale_after_s > self.heartbeat_s,
            "run_lock.stale_after_s",
            self.stale_after_s,
            "it must be longer than run_lock.heartbeat_s",
        )


@dataclass
class TrainConfig:
    """The root config (`configs/train.yaml`)."""

    seed: int = 5842
    train: bool = True
    test: bool = True
    ckpt_path: Optional[str] = None  # noqa: UP045
    resume: bool = False
    cudnn_deterministic: bool = False
    trainer_speedups: bool = True
    print_config: bool = True
    torch_threads: Optional[int] = None  # noqa: UP045
    run_lock: RunLockConfig = field(default_factory=RunLockConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    logger: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        _require(
            self.train or self.ckpt_path is not None,
            "train",
            self.train,
            "train=false evaluates a checkpoint on Test: give it one with "
            "ckpt_path=<run>/checkpoints/last.ckpt (or best-*.ckpt), or use `make eval "
            "CKPT=<checkpoint, run or sweep folder>`",
        )
        _require(
            self.train or self.test,
            "test",
            self.test,
            "with train=false the run only tests; test=false leaves it nothing to do",
        )
        if self.ckpt_path is not None:
            _require(
                Path(self.ckpt_path).expanduser().is_file(),
                "ckpt_path",
                self.ckpt_path,
                f"no such file (relative paths start at {Path.cwd()}); give a checkpoint of a "
                f"run folder, e.g. <run>/checkpoints/last.ckpt",
            )
        if self.torch_threads is not None:
            _require(
                self.torch_threads >= 1, "torch_threads", self.torch_threads, "it must be >= 1"
            )


@dataclass
class BoundedSlurmQueueConf(SlurmQueueConf):
    """`hydra/launcher=submitit_slurm`: the plugin's settings plus the bounded wait's."""

    _target_: str = "hydra_plugins.bn2d_study_launchers.bounded_submitit.BoundedSlurmLauncher"
    poll_s: float = 5.0
    lost_after_s: float = 120.0
    runs_per_task: int = 1
    runs_at_once: Optional[int] = None  # noqa: UP045


@dataclass
class BoundedLocalQueueConf(LocalQueueConf):
    """`hydra/launcher=submitit_local`: the plugin's settings plus the bounded wait's."""

    _target_: str = "hydra_plugins.bn2d_study_launchers.bounded_submitit.BoundedLocalLauncher"
    poll_s: float = 5.0
    lost_after_s: float = 120.0
    runs_per_task: int = 1
    runs_at_once: Optional[int] = None  # noqa: UP045


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore: `train_schema` (named in `train.yaml`), and the
    submitit launchers' in place of the plugin's own."""
    # Hydra's plugin scan (once per process) re-runs the plugin's registration: scan first,
    # so that ours come after it.
    Plugins.instance()
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    # The study's CNN: configs/model/net/cnn.yaml lists this in its defaults.
    store.store(group="model/net", name="cnn_schema", node=CnnConfig)
    for name, node in (
        ("submitit_slurm", BoundedSlurmQueueConf),
        ("submitit_local", BoundedLocalQueueConf),
    ):
        store.store(group="hydra/launcher", name=name, node=node, provider="bn2d_study")


def validate_config(cfg: DictConfig) -> None:
    """Check value ranges (the dataclasses' `__post_init__`) before anything is built."""
    try:
        OmegaConf.to_object(cfg)
    except OmegaConfBaseException as error:
        # OmegaConf wraps errors raised while building a dataclass; surface ours unwrapped.
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(str(error)) from error
