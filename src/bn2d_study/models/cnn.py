"""The study's small CNN, with BatchNorm2d after each convolution as a switch."""

from __future__ import annotations

from torch import nn


def build_cnn(
    use_batchnorm: bool,
    conv_layers: int,
    filters: int,
    kernel_size: int,
    pool_size: int,
    image_size: int,
    num_classes: int,
    dropout: float,
    inplace_relu: bool,
    in_channels: int,
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
