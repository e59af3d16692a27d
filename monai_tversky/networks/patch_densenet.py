"""The 3D patch-wise densely connected network of hashemi2018 (section III.A.2), after Bui et al.'s 3D DenseSeg."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torch.utils.checkpoint import checkpoint

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

    def new_features(self, *features: torch.Tensor) -> torch.Tensor:
        """The ``growth_rate`` maps this layer adds, from the block's feature maps so far (concatenated here)."""
        return self.conv(self.bottleneck(_cat(features)))


@contextlib.contextmanager
def _frozen_batch_norm_statistics(module: nn.Module) -> Iterator[None]:
    """Let training-mode batch norm in ``module`` normalise with batch statistics without updating its running ones.

    Gradient checkpointing runs a segment's forward twice (once more in the backward pass). Batch norm must normalise
    with the same batch statistics both times (it does: same input) but update ``running_mean``/``running_var`` and
    ``num_batches_tracked`` only once, or the running statistics would drift from the plain network's. During the
    recomputation the momentum is 0 (``running = 1 * running + 0 * batch``: unchanged, exactly) and the batch count
    is restored afterwards; the running buffers are still passed to ``F.batch_norm``, so autograd saves the same
    tensors as in the first pass, which non-reentrant checkpointing checks.
    """
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def _checkpointed(function: Callable[..., torch.Tensor], modules: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``function(*inputs)`` whose intermediate tensors are recomputed in the backward pass instead of stored.

    Non-reentrant ``torch.utils.checkpoint`` (it restores the RNG state, so dropout draws the same mask again, and
    the autocast state); the recomputation runs with the batch norm of ``modules`` frozen (see
    :func:`_frozen_batch_norm_statistics`), so the result, the gradients and the running statistics equal the plain
    network's.
    """
    return checkpoint(
        function,
        *inputs,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _frozen_batch_norm_statistics(modules)),
    )


def _fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, norm: _BatchNorm, transposed: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one convolution, for eval mode (running statistics).

    The standard folding (as ``torch.nn.utils.fusion.fuse_conv_bn_weights``, without its ``nn.Parameter`` wrapping):
    ``w' = w * g / sqrt(v + eps)`` per output channel, ``b' = (b - m) * g / sqrt(v + eps) + beta``.
    """
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean if bias is None else bias - norm.running_mean
    shift = shift * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    shape = [1] * weight.dim()
    shape[1 if transposed else 0] = -1  # output channels: dim 1 of a transposed convolution's weight, else dim 0
    return weight * scale.reshape(shape).to(weight.dtype), shift.to(weight.dtype)


def _run_folded(module: nn.Module, x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """Eval-mode ``module(x)`` with every ``conv -> batch norm`` pair of MONAI's ``Convolution`` folded into one
    convolution (weights in ``memory_format``); other modules run as they are."""
    if isinstance(module, Convolution):
        conv = module.conv
        adn = module._modules.get("adn")
        rest = list(adn.children()) if adn is not None else []
        weight, bias = conv.weight, conv.bias
        transposed = isinstance(conv, nn.modules.conv._ConvTransposeNd)
        if rest and isinstance(rest[0], _BatchNorm) and rest[0].running_mean is not None:
            weight, bias = _fold_batch_norm(weight, bias, rest[0], transposed)
            rest = rest[1:]
        weight = weight.contiguous(memory_format=memory_format)
        if transposed:
            x = F.conv_transpose3d(x, weight, bias, conv.stride, conv.padding, conv.output_padding, conv.groups,
                                   conv.dilation)
        else:
            x = conv._conv_forward(x, weight, bias)
        for m in rest:  # activation (in eval mode dropout is the identity)
            x = m(x)
        return x
    if isinstance(module, nn.Sequential):
        for m in module:
            x = _run_folded(m, x, memory_format)
        return x
    return module(x)


def _run_with_layout_independent_dropout(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` for MONAI's ``Convolution``, with training-mode dropout drawing its mask in the logical
    (contiguous) order whatever ``x``'s memory format: ``F.dropout`` fills its mask in memory order, so a
    channels-last tensor would get other masks than the plain (channels-first) network under the same seed."""
    adn = module._modules.get("adn")
    if not isinstance(module, Convolution) or adn is None:
        return module(x)
    x = module.conv(x)
    for m in adn.children():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0:
            keep = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - m.p)
            x = x * keep.div_(1.0 - m.p)
        else:
            x = m(x)
    return x


def _cat(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """The channel concatenation of ``features`` (no copy for a single tensor)."""
    return features[0] if len(features) == 1 else torch.cat(list(features), dim=1)


def _partial_conv(conv: nn.Module, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``conv`` applied to input channels ``start:stop`` only, without its bias: the convolution of a concatenation
    is the sum of these parts, so the concatenation itself need not be built."""
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        return F.conv_transpose3d(x, conv.weight[start:stop], None, conv.stride, conv.padding, conv.output_padding,
                                  conv.groups, conv.dilation)
    return F.conv3d(x, conv.weight[:, start:stop], None, conv.stride, conv.padding, conv.dilation, conv.groups)


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
        memory_efficient: in training mode (with gradients enabled), recompute instead of store: the stem, every
            dense layer (concatenation + bottleneck + 3x3x3 convolution + dropout), every transition and every
            level's upsampling path are gradient-checkpointed (non-reentrant ``torch.utils.checkpoint``, as
            torchvision's ``DenseNet(memory_efficient=True)`` does for its dense layers), and the classifier is
            applied to each level's part of the concatenation separately and summed, so the full-resolution
            concatenation of all blocks is never stored; on the CPU the activations are channels-last
            (``channels_last_3d``), which oneDNN convolves about twice as fast. Same mathematics: the outputs, the
            gradients (within float rounding of the reordered sums, ~1e-6 relative) and the batch-norm running
            statistics equal the plain network's, and dropout draws the same masks (the RNG state is restored for the
            recomputation). The paper's batch of 8 patches of 64^3 takes ~3.9 GB instead of ~14 GB on a CPU, and
            (channels-last more than paying for the recomputation) ~24 s per step instead of ~43 s on 2 cores.
            Defaults to False.
        fast_eval: in eval mode, fold every batch norm into its convolution (running statistics), apply the
            classifier to each level's part of the concatenation separately, and on the CPU compute in the
            ``channels_last_3d`` memory format that oneDNN's convolutions prefer. Same mathematics (logits within
            ~1e-6 of the plain network's); about 3x faster on a CPU. Skipped under TorchScript, tracing, ONNX
            export and ``torch.compile``, which see the plain network. Defaults to True.
        dropout: the dropout probability under the name MONAI's ``BasicUNet`` and ``AttentionUnet`` use, which is
            also what MONAI Label's epistemic scoring sets (``network_def#dropout``); when given, it replaces
            ``dropout_prob``. Defaults to ``None`` (``dropout_prob`` applies).

    Raises:
        TypeError: when an integer argument is not an int, or ``memory_efficient``/``fast_eval`` is not a bool.
        ValueError: when an integer argument is below its minimum (1), ``compression`` is not in (0, 1] or
            ``dropout_prob`` (or ``dropout``) is not in [0, 1).

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
        memory_efficient: bool = False,
        fast_eval: bool = True,
        dropout: float | None = None,
    ) -> None:
        super().__init__()
        if dropout is not None:
            if not 0.0 <= float(dropout) < 1.0:
                raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
            dropout_prob = float(dropout)
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

        for name, value in (("memory_efficient", memory_efficient), ("fast_eval", fast_eval)):
            if not isinstance(value, bool):  # a command-line "false" arrives as a (true) string
                raise TypeError(f"{name} must be True or False, got {value!r}.")
        spatial_dims = 3
        self.memory_efficient = memory_efficient
        self.fast_eval = fast_eval
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
        head_parts: list[int] = []  # channels each level contributes to the concatenation before the head
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
                head_parts.append(channels)
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
                head_parts.append(upsample_features)
            levels.append(PatchDenseLevel(transition, block, upsample))
        self.levels = nn.ModuleList(levels)
        self.head_parts = tuple(head_parts)
        self.growth_rate = growth_rate

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
        if not torch.jit.is_scripting() and self._python_paths_allowed():
            if self.training and self.memory_efficient and torch.is_grad_enabled():
                return self._forward_parts(x, checkpointing=True)
            if not self.training and self.fast_eval and not self._hooked():
                return self._forward_parts(x, checkpointing=False)
        x = self.stem(x)
        fused: list[torch.Tensor] = []
        for level in self.levels:
            x, up = level(x)
            fused.append(up)
        return self.head(torch.cat(fused, dim=1))

    @torch.jit.unused
    def _forward_parts(self, x: torch.Tensor, checkpointing: bool) -> torch.Tensor:
        """
        The forward pass of ``memory_efficient`` training (``checkpointing=True``) and of ``fast_eval``
        (``checkpointing=False``: batch norm folded, channels-last on the CPU). Both keep each dense block as a list
        of feature maps and apply the head's first convolution to each level's part of the concatenation (a
        convolution of a concatenation is the sum of the convolutions of its parts), so neither the dense blocks'
        outputs nor the full-resolution concatenation of all blocks is materialised.
        """
        # oneDNN's CPU convolutions run about twice as fast on channels-last tensors (no reorder of every input and
        # output), in training as in eval; the weights may stay as they are: the input's format decides
        memory_format = torch.channels_last_3d if x.device.type == "cpu" else torch.contiguous_format
        x = x.contiguous(memory_format=memory_format)
        if checkpointing:

            def run(module: nn.Module, *inputs: torch.Tensor, function: Callable | None = None) -> torch.Tensor:
                return _checkpointed(function or module, module, *inputs)

        else:

            def run(module: nn.Module, *inputs: torch.Tensor, function: Callable | None = None) -> torch.Tensor:
                if function is not None:
                    return function(*inputs)
                return _run_folded(module, inputs[0], memory_format)

        head_conv = self.head[0].conv  # restore_resolution (input_stride > 1) or the classifier
        start = 0
        total: torch.Tensor | None = None
        features: list[torch.Tensor] = []
        for level, width in zip(self.levels, self.head_parts):
            if level.transition is None:
                features = [run(self.stem, x)]
            else:
                transition = level.transition
                features = [
                    run(transition, *features, function=lambda *fs, t=transition: self._run(t, _cat(fs), checkpointing))
                ]
            for layer in level.block:
                features.append(
                    run(layer, *features, function=lambda *fs, m=layer: self._run_layer(m, fs, checkpointing))
                )
            if isinstance(level.upsample, nn.Identity):  # level 0: one partial convolution per feature map
                for f in features:
                    part = _partial_conv(head_conv, f, start, start + f.shape[1])
                    total = part if total is None else total + part
                    start += f.shape[1]
                continue
            upsample = level.upsample
            part = run(
                upsample,
                *features,
                function=lambda *fs, u=upsample, a=start, b=start + width: _partial_conv(
                    head_conv, self._run(u, _cat(fs), checkpointing), a, b
                ),
            )
            total = part if total is None else total + part
            start += width
        assert total is not None
        if head_conv.bias is not None:
            total = total + head_conv.bias.reshape(1, -1, 1, 1, 1)
        if len(self.head) > 1:  # input_stride > 1: the rest of restore_resolution, then the classifier
            tail = nn.Sequential(self.head[0].adn, *self.head[1:])
            total = run(tail, total, function=None if not checkpointing else tail)
        return total.contiguous()

    @torch.jit.unused
    def _python_paths_allowed(self):
        """False while the forward pass is traced, exported to ONNX or compiled: these see the plain network."""
        return not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling())

    @torch.jit.unused
    def _hooked(self) -> bool:
        """Whether a forward hook watches a sub-module (e.g. MONAI's ``GradCAM``): the fast eval path does not call
        the sub-modules one by one, so it is skipped then."""
        if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
            return True
        return any(m._forward_hooks or m._forward_pre_hooks for m in self.modules() if m is not self)

    @torch.jit.unused
    def _run(self, module: nn.Module, x: torch.Tensor, checkpointing: bool) -> torch.Tensor:
        """``module(x)``; in eval mode with batch norm folded (channels-last on the CPU)."""
        if checkpointing:
            return module(x)
        memory_format = torch.channels_last_3d if x.device.type == "cpu" else torch.contiguous_format
        return _run_folded(module, x, memory_format)

    @torch.jit.unused
    def _run_layer(self, layer: DenseBottleneckLayer, features: Sequence[torch.Tensor], checkpointing: bool):
        """The new feature maps of a dense layer from the block's feature maps so far."""
        if checkpointing:
            return _run_with_layout_independent_dropout(layer.conv, layer.bottleneck(_cat(features)))
        return self._run(layer.conv, self._run(layer.bottleneck, _cat(features), False), False)
