"""How the config's layout changed: for the schema's errors on old keys, and for reading run
folders written before a change as if they had been written after it.

A report over one sweep must not split a setting in two because some of its runs were made
before a key moved. `upgrade_run_config` rewrites an old run's (flattened) config into the
current layout, with the values those runs actually used. It imports only the archive's
constants (`bn2d_study.data.dhcd`, plain values): the schema and the report both use it.
"""

from __future__ import annotations

from typing import Any

from bn2d_study.data.dhcd import DIGIT_CLASSES, IMAGE_SIZE, NUM_CLASSES

# The network's options were `model.<key>` until they moved under `model.net` (the network
# became its own config group, configs/model/net/).
MOVED_TO_NET = ("conv_layers", "filters", "kernel_size", "pool_size", "num_classes")

# What runs written before each change used for the keys that the change added: the study's
# CNN, built for the DHCD digits, with no dropout. Those runs could read nothing but the DHCD
# digits, so the archive's constants are theirs; the current defaults, which may change, are
# not used here.
_NET_ADDED = {
    "model.net._target_": "bn2d_study.models.build_cnn",
    "model.net._partial_": True,
    "model.net.image_size": IMAGE_SIZE,
    "model.net.dropout": 0.0,
}
# Keys that the YAML files began to state later, at the values that every earlier run used
# (the network read grayscale; the callbacks ran with their signatures' defaults). None-valued
# ones need no entry: a missing key reads as None.
_CNN_ADDED = {"model.net.in_channels": 1}
_CALLBACKS_ADDED = {
    "callbacks.model_checkpoint.verbose": False,
    "callbacks.model_checkpoint.save_on_exception": False,
    "callbacks.model_checkpoint.save_weights_only": False,
    "callbacks.model_checkpoint.enable_version_counter": True,
    "callbacks.tensorboard_layout.category": "BN2D study",
}
_DATA_ADDED = {
    "data.classes": DIGIT_CLASSES,
    "data.num_classes": NUM_CLASSES,
    "data.image_size": IMAGE_SIZE,
}


def upgrade_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's flattened config in the current layout; a current one is returned unchanged."""
    upgraded = dict(config)
    if any(upgraded.get(f"model.{key}") is not None for key in MOVED_TO_NET) and not any(
        key.startswith("model.net.") for key in upgraded
    ):
        for key in MOVED_TO_NET:
            upgraded[f"model.net.{key}"] = upgraded.get(f"model.{key}")
            upgraded[f"model.{key}"] = None
        upgraded.update(_NET_ADDED)
    if "data.batch_size" in upgraded and "data.classes" not in upgraded:
        upgraded.update(_DATA_ADDED)
    if upgraded.get("model.net._target_") == _NET_ADDED["model.net._target_"]:
        upgraded.update({k: v for k, v in _CNN_ADDED.items() if k not in upgraded})
    for key, value in _CALLBACKS_ADDED.items():
        callback = key.rpartition(".")[0]
        if f"{callback}._target_" in upgraded and key not in upgraded:
            upgraded[key] = value
    return upgraded
