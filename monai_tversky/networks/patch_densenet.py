"""The 3D patch-wise densely connected network of hashemi2018 (section III.A.2), after Bui et al.'s 3D DenseSeg."""

from __future__ import annotations

import torch
import torch.nn as nn

from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Pool
from monai_tversky.networks.input_validation import validate_network_input

__all__ = ["PatchDenseNet3D", "DenseBottleneckLayer", "PatchDenseLevel"]


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")


class DenseBottleneckLayer(nn.Module):
    """
    One layer of a dense block of hashemi2018 (section III.A.2): a 1x1x1 bottleneck convolution followed by a
    3x3x3 convolution, each followed by batch norm and ReLU, dropout after the 3x3x3 convolution, and the
    ``growth_rate`` new feature maps concatenated to the input (dense connectivity).

    Unlike MONAI's (private) ``densenet._DenseLayer``, which is pre-activation (norm -> act -> conv) as in
    Huang et al., the paper puts batch norm and ReLU after each convolution, so this layer is conv -> norm -> act.

    Args:
        in_channels: number of input feature maps.
        growth_rate: number of feature maps the layer adds (k in the paper).
        bn_size: the bottleneck has ``bn_size * growth_rate`` output feature maps.
        dropout_prob: dropout probability after the 3x3x3 convolution (0 disables it).
        act: activation type and arguments, as for :py:class:`monai.networks.blocks.Convolution`.
        norm: normalisation type and arguments, as for :py:class:`monai.networks.blocks.Convolution`.
        spatial_dims: number of spatial dimensions. Defaults to 3.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        dropout_prob: float,
        act: str | tuple,
        norm: str | tuple,
        spatial_dims: int = 3,
    ) -> None:
        super().__init__()
        bottleneck_channels = bn_size * growth_rate
        # the convolutions are followed by a norm layer, which makes a convolution bias redundant
        self.bottleneck = Convolution(
            spatial_dims, in_channels, bottleneck_channels, kernel_size=1, act=act, norm=norm, bias=False,
            adn_ordering="NA",
        )
        self.conv = Convolution(
            spatial_dims, bottleneck_channels, growth_rate, kernel_size=3, act=act, norm=norm, bias=False,
            dropout=dropout_prob if dropout_prob > 0 else None, adn_ordering="NAD",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``cat([x, new_features], dim=1)`` with ``in_channels + growth_rate`` channels."""
        return torch.cat([x, self.conv(self.bottleneck(x))], dim=1)


class PatchDenseLevel(nn.Module):
    """
    One resolution level of :py:class:`PatchDenseNet3D`: an optional transition block (1x1x1 convolution with
    norm and act, then 2x max pooling), a dense block, and the upsampling path that brings the dense block's
    output back to the resolution of the first level (a chain of 2x2x2 stride-2 transposed convolutions, each
    followed by norm and act; an identity at the first level).

    Args:
        transition: the transition block, or None at the first level.
        block: the dense block.
        upsample: the upsampling path to the first level's resolution.
    """

    def __init__(self, transition: nn.Module | None, block: nn.Module, upsample: nn.Module) -> None:
        super().__init__()
        self.transition = transition
        self.block = block
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the dense block's output (input of the next level) and its upsampled copy."""
        if self.transition is not None:
            x = self.transition(x)
        x = self.block(x)
        return x, self.upsample(x)


class PatchDenseNet3D(nn.Module):
    """
    The 3D patch-wise densely connected network (3D patch-wise Dense-Net) of hashemi2018, section III.A.2:

        Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018). *Asymmetric similarity loss function to
        balance precision and recall in highly unbalanced deep medical image segmentation.* IEEE Access.
        https://arxiv.org/abs/1803.11078

    which follows the 3D DenseSeg of Bui, Shin, Moon (2017), *3D densely convolutional networks for volumetric
    segmentation*, https://arxiv.org/abs/1709.03199.

    Architecture (defaults = the paper's sizes):

    - optional (``input_stride > 1``) ``input_stride``-strided convolution with kernel ``input_stride``, the paper's
      extra 2x2x2 stride-2 convolution for 128^3 patches;
    - three initial 3x3x3 convolutions with ``init_features`` feature maps;
    - ``num_blocks`` dense blocks of ``layers_per_block`` layers, growth rate ``growth_rate``; each layer is a 1x1x1
      bottleneck convolution (``bn_size * growth_rate`` maps) and a 3x3x3 convolution followed by dropout
      (``dropout_prob``), see :py:class:`DenseBottleneckLayer`;
    - a transition block (1x1x1 convolution keeping ``floor(compression * channels)`` maps, then 2x2x2 max pooling
      with stride 2) between consecutive dense blocks;
    - every convolution is followed by ``norm`` (batch norm) and ``act`` (ReLU);
    - the output of every dense block but the first is upsampled back to the first block's resolution by a chain of
      2x2x2 stride-2 transposed convolutions with ``upsample_features`` maps (the paper says "deconvolutional layers"
      and gives no sizes); the first block's output is used as it is; all are concatenated;
    - with ``input_stride > 1``, a transposed convolution (kernel and stride ``input_stride``, ``init_features``
      maps) restores the input resolution;
    - a 1x1x1 convolution classifier with ``out_channels`` maps.

    The output is raw logits at the input resolution (the paper applies a sigmoid; use ``sigmoid=True`` in the loss
    and a ``Activations(sigmoid=True)`` post-transform). Every spatial size of the input must be a multiple of
    ``input_stride * 2 ** (num_blocks - 1)`` (16 with the defaults, 32 with ``input_stride=2``).

    The paper does not give the initial feature count, the bottleneck width, the transition compression or the
    upsampling widths; the defaults of those follow DenseNet-BC (Huang et al. 2017, which the paper cites for its
    bottlenecks): ``init_features = 2 * growth_rate``, ``bn_size = 4``, ``compression = 0.5``.

    Args:
        in_channels: number of input channels (MR modalities). Defaults to 5 (MSSEG 2016); 4 for ISBI 2015.
        out_channels: number of output channels. Defaults to 1 (lesion logits).
        growth_rate: feature maps added by each dense layer. Defaults to 12.
        num_blocks: number of dense blocks (resolution levels). Defaults to 5.
        layers_per_block: dense layers (bottleneck + 3x3x3 convolution) per block. Defaults to 4.
        init_features: feature maps of the three initial convolutions. Defaults to 24.
        bn_size: bottleneck width as a multiple of ``growth_rate``. Defaults to 4.
        compression: fraction of feature maps a transition block keeps, in (0, 1]. Defaults to 0.5.
        upsample_features: feature maps of each dense block's upsampling path. Defaults to 16.
        dropout_prob: dropout probability after the 3x3x3 convolutions inside dense blocks, in [0, 1).
            Defaults to 0.2.
        input_stride: stride (and kernel size) of an extra convolution at the start of the network, undone by a
            transposed convolution at the end; 1 disables it, 2 is the paper's setting for 128^3 patches.
            Defaults to 1.
        act: activation type and arguments. Defaults to ``("relu", {"inplace": True})``.
        norm: normalisation type and arguments. Defaults to ``"batch"``.

    Raises:
        TypeError: when an integer argument is not an int.
        ValueError: when an integer argument is below its minimum (1), ``compression`` is not in (0, 1] or
            ``dropout_prob`` is not in [0, 1).

    Example::

        >>> net = PatchDenseNet3D(in_channels=5)  # MSSEG 2016, 64^3 patches
        >>> net(torch.rand(2, 5, 64, 64, 64)).shape
        torch.Size([2, 1, 64, 64, 64])
        >>> net = PatchDenseNet3D(in_channels=4, input_stride=2)  # ISBI 2015, 128^3 patches
    """

    def __init__(
        self,
        in_channels: int = 5,
        out_channels: int = 1,
        growth_rate: int = 12,
        num_blocks: int = 5,
        layers_per_block: int = 4,
        init_features: int = 24,
        bn_size: int = 4,
        compression: float = 0.5,
        upsample_features: int = 16,
        dropout_prob: float = 0.2,
        input_stride: int = 1,
        act: str | tuple = ("relu", {"inplace": True}),
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("growth_rate", growth_rate),
            ("num_blocks", num_blocks),
            ("layers_per_block", layers_per_block),
            ("init_features", init_features),
            ("bn_size", bn_size),
            ("upsample_features", upsample_features),
            ("input_stride", input_stride),
        ):
            _check_int(name, value, 1)
        if not 0.0 < float(compression) <= 1.0:
            raise ValueError(f"compression must be in (0, 1], got {compression}.")
        if not 0.0 <= float(dropout_prob) < 1.0:
            raise ValueError(f"dropout_prob must be in [0, 1), got {dropout_prob}.")

        spatial_dims = 3
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_stride = input_stride
        self.size_divisor = input_stride * 2 ** (num_blocks - 1)

        self.stem = nn.Sequential()
        stem_channels = in_channels
        if input_stride > 1:
            self.stem.add_module(
                "input_stride_conv",
                Convolution(
                    spatial_dims, in_channels, init_features, strides=input_stride, kernel_size=input_stride,
                    padding=0, act=act, norm=norm, bias=False, adn_ordering="NA",
                ),
            )
            stem_channels = init_features
        for i in range(3):
            self.stem.add_module(
                f"conv{i}",
                Convolution(
                    spatial_dims, stem_channels, init_features, kernel_size=3, act=act, norm=norm, bias=False,
                    adn_ordering="NA",
                ),
            )
            stem_channels = init_features

        channels = init_features
        levels = []
        fused_channels = 0
        for level in range(num_blocks):
            transition = None
            if level > 0:
                reduced = max(int(channels * compression), 1)
                transition = nn.Sequential()
                transition.add_module(
                    "conv",
                    Convolution(
                        spatial_dims, channels, reduced, kernel_size=1, act=act, norm=norm, bias=False,
                        adn_ordering="NA",
                    ),
                )
                transition.add_module("pool", Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2))
                channels = reduced
            block = nn.Sequential()
            for i in range(layers_per_block):
                block.add_module(
                    f"layer{i}",
                    DenseBottleneckLayer(channels, growth_rate, bn_size, dropout_prob, act, norm, spatial_dims),
                )
                channels += growth_rate
            upsample: nn.Module
            if level == 0:
                upsample = nn.Identity()
                fused_channels += channels
            else:
                upsample = nn.Sequential()
                up_channels = channels
                for step in range(level):
                    upsample.add_module(
                        f"deconv{step}",
                        Convolution(
                            spatial_dims, up_channels, upsample_features, strides=2, kernel_size=2, padding=0,
                            output_padding=0, is_transposed=True, act=act, norm=norm, bias=False,
                            adn_ordering="NA",
                        ),
                    )
                    up_channels = upsample_features
                fused_channels += upsample_features
            levels.append(PatchDenseLevel(transition, block, upsample))
        self.levels = nn.ModuleList(levels)

        self.head = nn.Sequential()
        head_channels = fused_channels
        if input_stride > 1:
            self.head.add_module(
                "restore_resolution",
                Convolution(
                    spatial_dims, fused_channels, init_features, strides=input_stride, kernel_size=input_stride,
                    padding=0, output_padding=0, is_transposed=True, act=act, norm=norm, bias=False,
                    adn_ordering="NA",
                ),
            )
            head_channels = init_features
        self.head.add_module(
            "classifier",
            Convolution(spatial_dims, head_channels, out_channels, kernel_size=1, conv_only=True, bias=True),
        )
        # batch norm at the coarsest level (its dense block) is what needs B * prod(S / size_divisor) > 1 in training
        self.coarsest_batch_norm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.levels[-1].block.modules()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: a batch of patches, shape ``(B, in_channels, D, H, W)``, each spatial size a multiple of
                ``input_stride * 2 ** (num_blocks - 1)``.

        Returns:
            logits of shape ``(B, out_channels, D, H, W)``.

        Raises:
            ValueError: when ``x`` is not 5D, has the wrong channel count, or a spatial size that is not a multiple
                of ``input_stride * 2 ** (num_blocks - 1)``; in training mode with batch norm, when batch size 1 at
                that smallest size would leave batch norm one value per channel at the coarsest level.
        """
        validate_network_input(
            x, 3, self.in_channels, self.size_divisor, "PatchDenseNet3D", self.training and self.coarsest_batch_norm
        )
        x = self.stem(x)
        fused: list[torch.Tensor] = []
        for level in self.levels:
            x, up = level(x)
            fused.append(up)
        return self.head(torch.cat(fused, dim=1))
