"""The options of `DigitClassifier` and of the study's CNN, `build_cnn`: their signatures name
and type them, `configs/model/cnn.yaml` and `configs/model/net/cnn.yaml` state each one's value
and meaning, and the checks below say what types cannot, before anything is built (without
torch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bn2d_study.signature_options import by_target, options_of

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune")


def cnn_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Each network option out of range: (key, the rule it breaks)."""
    for key in ("conv_layers", "filters", "pool_size", "num_classes", "image_size", "in_channels"):
        if getattr(o, key) < 1:
            yield key, "it must be >= 1"
    if o.kernel_size < 1 or o.kernel_size % 2 == 0:
        yield "kernel_size", "it must be odd (same padding)"
    if o.pool_size > o.image_size:
        yield "pool_size", f"it must be <= the image size, {o.image_size}"
    if not 0 <= o.dropout < 1:
        yield "dropout", "it must be in [0, 1)"


def classifier_problems(o: Any) -> Iterator[tuple[str, str]]:
    """Each classifier option out of range: (key, the rule it breaks)."""
    if isinstance(o.metrics, dict) and not o.metrics:
        choose = "choose model/metrics=lean or model/metrics=torchmetrics"
        yield "metrics", f"it needs at least one metric; {choose}"
    if o.compile_mode not in COMPILE_MODES:
        yield "compile_mode", "it must be null, default, reduce-overhead or max-autotune"


CLASSIFIER_OPTIONS = options_of(
    "bn2d_study.models.classifier.DigitClassifier",
    problems=classifier_problems,
)
CNN_OPTIONS = options_of(
    "bn2d_study.models.cnn.build_cnn",
    problems=cnn_problems,
    given_by_caller=["use_batchnorm"],  # the classifier's model.use_batchnorm
    partial=True,
)

# What the config wing registers (the YAML files name these schemas in their defaults), and the
# options checked before anything is built, by the `_target_` they configure.
SCHEMAS = {
    ("model", "classifier_schema"): CLASSIFIER_OPTIONS.schema,
    ("model/net", "cnn_schema"): CNN_OPTIONS.schema,
}
CHECKED = by_target(CLASSIFIER_OPTIONS, CNN_OPTIONS)
