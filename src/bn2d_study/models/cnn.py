"""The study's small CNN, with BatchNorm2d after each convolution as a switch."""

from __future__ import annotations

from torch import nn

from bn2d_study.config.schema import CnnConfig, defaults_of

# The options' defaults and checks are CnnConfig's (config_schema.py): stated once.
_DEFAULTS = defaults_of(CnnConfig)


def build_cnn(
    use_batchnorm: bool = True,
    conv_layers: int = _DEFAULTS["conv_layers"],
    filters: int = _DEFAULTS["filters"],
    kernel_size: int = _DEFAULTS["kernel_size"],
    pool_size: int = _DEFAULTS["pool_size"],
    in_channels: int = 1,
    image_size: int = _DEFAULTS["image_size"],
    num_classes: int = _DEFAULTS["num_classes"],
    dropout: float = _DEFAULTS["dropout"],
    inplace_relu: bool = _DEFAULTS["inplace_relu"],
) -> nn.Sequential:
    """Build `[Conv2d (BatchNorm2d) ReLU] x conv_layers, MaxPool2d, Flatten, (Dropout,) Linear`.

    Layers are created in exactly the protocol's order, so with the same seed the initial
    weights equal those of the study's hand-written `nn.Sequential`. Convolutions use "same"
    padding (odd kernel sizes), so only the pooling shrinks the image. `dropout` > 0 adds
    `Dropout(dropout)` before the last layer (docs/adapt.md uses it as its example switch).
    `inplace_relu` only decides whether ReLU reuses its input's memory: the results are the same.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for _ in range(conv_layers):
        layers.append(nn.Conv2d(channels, filters, kernel_size, padding=kernel_size // 2))
        if use_batchnorm:
            layers.append(nn.BatchNorm2d(filters))
        layers.append(nn.ReLU(inplace=inplace_relu))
        channels = filters
    pooled = image_size // pool_size
    layers += [nn.MaxPool2d(pool_size), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(filters * pooled * pooled, num_classes))
    return nn.Sequential(*layers)
