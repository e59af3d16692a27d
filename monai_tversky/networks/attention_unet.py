"""The attention U-Net with input image pyramid and deep supervision of abraham2018 (section 2.2), with the defaults
of the authors' Keras code (``attn_reg`` in ``newmodels.py`` of github.com/nabsabraham/focal-tversky-unet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import List, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Pool
from monai.networks.nets.attentionunet import AttentionBlock
from monai.networks.nets.basic_unet import TwoConv
from monai_tversky.networks.input_validation import validate_network_input

__all__ = [
    "AttentionPyramidUNet",
    "PyramidEncoderLevel",
    "GatedDecoderLevel",
    "ABRAHAM2018_NETWORKS",
    "attention_unet_variant",
    "final_output",
]

_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}

#: The three networks of abraham2018's ablation (Tables 1-2), as :class:`AttentionPyramidUNet` arguments, keyed by
#: the names the focal_tversky bundle's ``network_variant`` takes. In the authors' code (``newmodels.py``) they are
#: ``unet`` (a plain U-Net: no gates, no pyramid, one output), ``attn_reg_ds`` ("attention U-Net with deep
#: supervision - exactly from paper", the rows "Attn U-Net") and ``attn_reg`` (the rows "Attn U-Net + Multi-Input").
ABRAHAM2018_NETWORKS: dict[str, dict[str, bool]] = {
    "unet": {"attention": False, "input_pyramid": False, "deep_supervision": False},
    "attn_unet": {"attention": True, "input_pyramid": False, "deep_supervision": True},
    "attn_unet_pyramid": {"attention": True, "input_pyramid": True, "deep_supervision": True},
}


def attention_unet_variant(name: str) -> dict[str, bool]:
    """
    The :class:`AttentionPyramidUNet` arguments ``attention``, ``input_pyramid`` and ``deep_supervision`` of one
    network of abraham2018's ablation (Tables 1-2), see :data:`ABRAHAM2018_NETWORKS`:

    - ``"unet"``: U-Net (no attention gates, no input pyramid, no side outputs; the authors' ``unet``);
    - ``"attn_unet"``: attention U-Net with deep supervision (the authors' ``attn_reg_ds``);
    - ``"attn_unet_pyramid"``: attention U-Net with input image pyramid and deep supervision (``attn_reg``, the
      proposed network).

    Args:
        name: one of the keys above (case-insensitive; ``-`` and ``_`` alike).

    Returns:
        a new dict ``{"attention": bool, "input_pyramid": bool, "deep_supervision": bool}``.

    Raises:
        ValueError: when ``name`` is not one of the three (the message lists them).
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in ABRAHAM2018_NETWORKS:
        raise ValueError(f"unknown network variant {name!r}; choose one of {', '.join(ABRAHAM2018_NETWORKS)}.")
    return dict(ABRAHAM2018_NETWORKS[key])


def final_output(output: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    """
    The final (full-resolution) output of :class:`AttentionPyramidUNet`: ``output`` itself when it is a tensor (eval
    mode, or no deep supervision), else its first element (train mode with deep supervision returns
    ``[final, side_1, ...]``). For a training engine's post-processing and metrics, e.g.
    ``Lambdad(keys="pred", func=final_output)`` before ``Activationsd``.

    Raises:
        TypeError: when ``output`` is neither a tensor nor a non-empty list/tuple of tensors.
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"expected a tensor or a list [final, side_1, ...] of tensors, got {type(output).__name__}.")


class PyramidEncoderLevel(nn.Module):
    """
    One encoder level below the full resolution of :py:class:`AttentionPyramidUNet`: 2x max pooling of the finer
    level's features, optionally concatenated with the input image pyramid at this scale (the image average-pooled
    by 2 once more than at the finer level, then a 3x3 convolution with ``out_channels`` maps and ``act``, as in
    the authors' Keras code), then two 3x3 convolutions (MONAI's ``TwoConv``).

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: feature maps of the finer level.
        image_channels: channels of the input image.
        out_channels: feature maps of this level.
        act: activation type and arguments.
        norm: normalisation type and arguments.
        bias: whether the convolutions have a bias term.
        dropout: dropout probability in the two convolutions.
        inject_image: whether this level receives the input image pyramid.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        image_channels: int,
        out_channels: int,
        act: str | tuple,
        norm: str | tuple | None,
        bias: bool,
        dropout: float,
        inject_image: bool,
    ) -> None:
        super().__init__()
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        self.image_pool = Pool[Pool.AVG, spatial_dims](kernel_size=2)
        self.image_conv: nn.Module | None = None
        conv_in = in_channels
        if inject_image:
            self.image_conv = Convolution(
                spatial_dims, image_channels, out_channels, kernel_size=3, act=act, norm=None, bias=True
            )
            conv_in += out_channels
        self.convs = TwoConv(spatial_dims, conv_in, out_channels, act, norm, bias, dropout)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x: features of the finer level, shape ``(B, in_channels, *S)``.
            image: the input image at the finer level's scale, shape ``(B, image_channels, *S)``.

        Returns:
            this level's features ``(B, out_channels, *S/2)`` and the image at this level's scale.
        """
        image = self.image_pool(image)
        x = self.pool(x)
        if self.image_conv is not None:
            x = torch.cat([self.image_conv(image), x], dim=1)
        return self.convs(x), image


class GatedDecoderLevel(nn.Module):
    """
    One decoder level of :py:class:`AttentionPyramidUNet`: the coarser features are upsampled by a 2x transposed
    convolution to ``out_channels`` maps and concatenated with the skip connection, followed by two 3x3
    convolutions. With ``attention=True`` the skip connection first goes through an additive attention gate
    (MONAI's ``AttentionBlock``, Oktay et al.) whose gating signal is the coarser features, resampled to the skip
    connection's grid by (bi/tri)linear interpolation as in abraham2018, Fig. 3.

    Args:
        spatial_dims: number of spatial dimensions.
        coarse_channels: feature maps of the coarser level (the gating signal).
        skip_channels: feature maps of the skip connection.
        out_channels: feature maps of this level.
        act: activation type and arguments.
        norm: normalisation type and arguments.
        bias: whether the convolutions have a bias term.
        dropout: dropout probability in the two convolutions.
        attention: whether to gate the skip connection.
    """

    def __init__(
        self,
        spatial_dims: int,
        coarse_channels: int,
        skip_channels: int,
        out_channels: int,
        act: str | tuple,
        norm: str | tuple | None,
        bias: bool,
        dropout: float,
        attention: bool,
    ) -> None:
        super().__init__()
        self.interp_mode = _LINEAR_MODES[spatial_dims]
        self.gate: nn.Module | None = None
        if attention:
            # half the skip's maps: attn_reg's inner maps 128, 64, 32 for skips of 256, 128, 64 maps
            self.gate = AttentionBlock(
                spatial_dims, f_int=max(skip_channels // 2, 1), f_g=coarse_channels, f_l=skip_channels
            )
        self.upsample = UpSample(spatial_dims, coarse_channels, out_channels, scale_factor=2, mode="deconv")
        self.convs = TwoConv(spatial_dims, skip_channels + out_channels, out_channels, act, norm, bias, dropout)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """
        Args:
            coarse: features of the coarser level, shape ``(B, coarse_channels, *S/2)``.
            skip: encoder features of this level, shape ``(B, skip_channels, *S)``.

        Returns:
            this level's features, shape ``(B, out_channels, *S)``.
        """
        if self.gate is not None:
            gating = F.interpolate(coarse, size=skip.shape[2:], mode=self.interp_mode, align_corners=False)
            skip = self.gate(g=gating, x=skip)
        return self.convs(torch.cat([skip, self.upsample(coarse)], dim=1))


class AttentionPyramidUNet(nn.Module):
    """
    The attention U-Net with input image pyramid and deep supervision of abraham2018, section 2.2:

        Abraham, Khan (2019). *A novel focal Tversky loss function with improved attention U-Net for lesion
        segmentation.* ISBI 2019. https://arxiv.org/abs/1810.07842

    with the defaults of the authors' code, ``attn_reg`` in ``newmodels.py`` of
    https://github.com/nabsabraham/focal-tversky-unet ("model proposed in my paper"), built on the attention U-Net
    of Oktay et al. (2018), *Attention U-Net: learning where to look for the pancreas*,
    https://arxiv.org/abs/1804.03999, from MONAI's ``TwoConv``, ``UpSample`` and ``AttentionBlock``.

    Architecture, with ``L = len(channels)`` resolution levels (level ``l`` at scale ``1 / 2**l``):

    - encoder: two 3x3 convolutions (``norm``, ``act``) per level; 2x max pooling between levels; levels
      ``1 .. L-2`` (every pooled level that is followed by a max pooling) also receive the input image
      average-pooled to their scale through a 3x3 convolution + ``act`` to ``channels[l]`` maps (the input image
      pyramid, ``input_pyramid=True``), concatenated before the pooled features; level ``L-1`` is the centre;
    - decoder: at levels ``L-2 .. 0``, a 2x transposed convolution of the coarser features, concatenated with the
      skip connection, then two 3x3 convolutions; with ``attention=True`` the skip connections of levels
      ``1 .. L-2`` (all but the first) pass through an additive attention gate (``channels[l] // 2`` inner maps)
      whose gating signal is the coarser features;
    - outputs: a 1x1 convolution to ``out_channels`` maps on the level-0 decoder features (the final output) and,
      with ``deep_supervision=True``, one on each decoder level ``1 .. L-2`` (side outputs).

    The defaults (2D, ``channels=(32, 64, 128, 256, 512)``) reproduce the structure of the authors' ``attn_reg``
    (levels, maps, gated skips, pyramid injections, outputs and their scales):

    =====  =====  ========  =====================  ===================  ========  ======================
    level  scale  encoder   image pyramid          attention gate       decoder   output (train mode)
    =====  =====  ========  =====================  ===================  ========  ======================
    0      1      32        --                     -- (plain skip)      32        ``outputs[0]`` final
    1      1/2    64        avg-pool 2, conv 64    gated, 32 inner      64        ``outputs[1]`` side
    2      1/4    128       avg-pool 4, conv 128   gated, 64 inner      128       ``outputs[2]`` side
    3      1/8    256       avg-pool 8, conv 256   gated, 128 inner     256       ``outputs[3]`` side
    4      1/16   512       -- (centre)            --                   --        --
    =====  =====  ========  =====================  ===================  ========  ======================

    In the authors' names: encoder ``conv1 .. conv4``, ``center``; pyramid ``conv_scale2 .. conv_scale4`` on
    ``input_scale2 .. input_scale4``; gates ``attn3, attn2, attn1`` (inner maps 32, 64, 128); outputs ``final``
    (from ``conv9``), ``pred3`` (``conv8``, 1/2), ``pred2`` (``conv7``, 1/4), ``pred1`` (``conv6``, 1/8), each a
    1x1 convolution to one map.

    Where this network deliberately differs from ``attn_reg`` (one line each):

    - outputs are raw logits, not sigmoids (use ``sigmoid=True`` / ``softmax=True`` in the loss);
    - outputs are ordered final first, finest to coarsest (MONAI's ``DeepSupervisionLoss`` order), where Keras
      returns ``[pred1 (1/8), pred2 (1/4), pred3 (1/2), final]``;
    - level 3 has ``channels[3] = 256`` maps: ``attn_reg`` builds ``conv4`` with 64 (out of step with its own
      ``conv_scale4`` of 256 maps, gate ``attn1`` of 128 inner maps and ``conv6`` of 256 maps);
    - the gates are MONAI's ``AttentionBlock`` at the skip's resolution with the gating signal resampled bilinearly
      (abraham2018, Fig. 3), not the Keras ``UnetGatingSignal`` (1x1 conv, BN, ReLU) + ``AttnGatingBlock``
      (2x2 strided ``theta_x``, nearest upsampling of the coefficients, 1x1 conv + BN on the gated skip);
    - the level-1 gate takes its gating signal from level 2, where Keras takes ``g3`` from ``up1`` (level 3);
    - the decoder is a U-Net decoder (2x2 transposed conv to ``channels[l]`` maps, concatenation, two 3x3
      convolutions feeding the next level), where in Keras a 3x3 stride-2 transposed conv + ReLU (32, 64, 32, 32
      maps) upsamples the previous concatenation and the two-convolution blocks ``conv6 .. conv9`` feed only
      the output heads;
    - PyTorch's default initialisation, not Keras's ``glorot_normal`` / ``glorot_uniform``.

    Trainable parameters for 3 input maps and 1 output map: 8,683,725 here, 5,640,103 in ``attn_reg`` (hand count).

    The ablation of abraham2018 (Tables 1-2) switches the parts off one by one (:func:`attention_unet_variant`):
    ``attention=False, input_pyramid=False, deep_supervision=False`` is a plain U-Net with the same levels and maps
    (the rows "U-Net", the authors' ``unet``; it differs from that Keras function in details: batch norm in every
    block, two convolutions per decoder level); ``input_pyramid=False`` gives the rows "Attn U-Net" (the authors'
    ``attn_reg_ds``); all three on (the defaults) the rows "Attn U-Net + Multi-Input".

    Outputs:

    - ``eval()`` mode, or ``deep_supervision=False``: the final output only, a tensor
      ``(B, out_channels, *S)``, so any MONAI inferer, ``ckpt_export`` and MONAI Label can call the network.
    - ``train()`` mode with ``deep_supervision=True`` (and ``L >= 3``): a list
      ``[final, side_1, ..., side_{L-2}]`` (with the defaults ``[final, side at 1/2, side at 1/4, side at 1/8]``),
      finest first: ``final`` at the input resolution, then ``side_l`` at its own scale ``S / 2**l`` (not
      resized). This is the list form ``monai.losses.DeepSupervisionLoss`` and
      :py:class:`monai_tversky.losses.DeepSupervisionCombinedLoss` take (first element the full-resolution
      output; labels are resized to each output by nearest neighbour). abraham2018 supervises the side outputs
      with the focal Tversky loss and the final output with the Tversky loss, all weights 1.

    Every spatial size of the input must be a multiple of ``2 ** (L - 1)`` (16 with the defaults: ISIC 2018
    at 192x256 and BUS 2017 at 128x128 both are).

    Args:
        spatial_dims: number of spatial dimensions, 1, 2 (the paper) or 3.
        in_channels: number of input channels (3 for RGB dermoscopy, 1 for ultrasound).
        out_channels: number of output channels, i.e. maps of every output (1 for a lesion logit map, as in
            ``attn_reg``).
        channels: feature maps per resolution level, finest first, the last being the centre; at least 2 levels.
            Defaults to ``(32, 64, 128, 256, 512)``, the five levels of ``attn_reg``.
        act: activation type and arguments. Defaults to ``"relu"``.
        norm: normalisation type and arguments. Defaults to ``"batch"``.
        bias: whether the 3x3 convolutions have a bias term. Defaults to True.
        dropout: dropout probability in the 3x3 convolutions, in [0, 1). Defaults to 0.
        input_pyramid: whether to inject the input image pyramid into the encoder. Defaults to True.
        deep_supervision: whether training mode returns the side outputs as well. Defaults to True.
        attention: whether the skip connections of levels ``1 .. L-2`` pass through attention gates; ``False``
            gives plain U-Net skips. Defaults to True.

    Returns:
        ``forward(x)`` with ``x`` of shape ``(B, in_channels, *S)`` returns the final logits
        ``(B, out_channels, *S)`` in eval mode, or the list ``[final, side_1, ..., side_{L-2}]`` in train mode
        with deep supervision, ``side_l`` of shape ``(B, out_channels, *S / 2**l)``.

    Raises:
        TypeError: when an integer argument is not an int.
        ValueError: when ``spatial_dims`` is not 1, 2 or 3, a channel count is below 1, ``channels`` has fewer
            than 2 levels, or ``dropout`` is not in [0, 1).

    Example::

        >>> net = AttentionPyramidUNet(spatial_dims=2, in_channels=3, out_channels=1)
        >>> outputs = net(torch.rand(8, 3, 192, 256))  # train mode: [final, side at 1/2, 1/4, 1/8]
        >>> [tuple(o.shape[-2:]) for o in outputs]
        [(192, 256), (96, 128), (48, 64), (24, 32)]
        >>> net.eval()(torch.rand(1, 3, 192, 256)).shape
        torch.Size([1, 1, 192, 256])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (32, 64, 128, 256, 512),
        act: str | tuple = "relu",
        norm: str | tuple | None = "batch",
        bias: bool = True,
        dropout: float = 0.0,
        input_pyramid: bool = True,
        deep_supervision: bool = True,
        attention: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in _LINEAR_MODES or isinstance(spatial_dims, bool):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
        channels = tuple(channels)
        if len(channels) < 2:
            raise ValueError(f"channels must list at least 2 resolution levels, got {channels}.")
        for name, value in [("in_channels", in_channels), ("out_channels", out_channels)] + [
            (f"channels[{i}]", c) for i, c in enumerate(channels)
        ]:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")

        num_levels = len(channels)
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_divisor = 2 ** (num_levels - 1)
        self.deep_supervision = deep_supervision
        self.attention = attention
        self.input_pyramid = input_pyramid

        self.encoder0 = TwoConv(spatial_dims, in_channels, channels[0], act, norm, bias, dropout)
        # encoders[l - 1] is level l; attn_reg's pyramid enters levels 1, 2, 3 (conv_scale2 .. 4), not the centre
        self.encoders = nn.ModuleList(
            PyramidEncoderLevel(
                spatial_dims, channels[level - 1], in_channels, channels[level], act, norm, bias, dropout,
                inject_image=input_pyramid and level < num_levels - 1,
            )
            for level in range(1, num_levels)
        )
        # coarse to fine: levels L-2 .. 0; the first skip connection (level 0) is not gated (attn_reg: attn1 .. 3)
        # differs from attn_reg: a U-Net decoder level (conv blocks feed the next level, not only the output heads)
        self.decoders = nn.ModuleList(
            GatedDecoderLevel(
                spatial_dims, channels[level + 1], channels[level], channels[level], act, norm, bias, dropout,
                attention=attention and level > 0,
            )
            for level in range(num_levels - 2, -1, -1)
        )
        # differs from attn_reg: 1x1 convolutions give logits, where Keras applies a sigmoid
        self.final_head = Convolution(spatial_dims, channels[0], out_channels, kernel_size=1, conv_only=True)
        # fine to coarse: side outputs of levels 1 .. L-2
        self.side_heads = nn.ModuleList(
            Convolution(spatial_dims, channels[level], out_channels, kernel_size=1, conv_only=True)
            for level in range(1, num_levels - 1)
            if deep_supervision
        )
        # batch norm at the bottleneck is what needs B * prod(S / size_divisor) > 1 in training (MONAI's attention
        # gates always use batch norm, but one level finer, where every spatial size is at least 2)
        self.coarsest_batch_norm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.encoders[-1].modules()
        )

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, List[torch.Tensor]]:
        """
        Args:
            x: input batch ``(B, in_channels, *S)`` with every spatial size a multiple of ``2 ** (L - 1)``.

        Returns:
            in eval mode (or without deep supervision) the final logits ``(B, out_channels, *S)``; in train mode
            with deep supervision the list ``[final, side_1, ..., side_{L-2}]``, ``side_l`` of shape
            ``(B, out_channels, *S / 2**l)``.

        Raises:
            ValueError: when ``x`` has the wrong number of dimensions or channels, or a spatial size that is not a
                multiple of ``2 ** (L - 1)``; in training mode with batch norm, when batch size 1 at that smallest
                size would leave batch norm one value per channel at the bottleneck.
        """
        validate_network_input(
            x, self.spatial_dims, self.in_channels, self.size_divisor, "AttentionPyramidUNet",
            self.training and self.coarsest_batch_norm,
        )
        features = self.encoder0(x)
        skips: List[torch.Tensor] = [features]
        image = x
        for encoder in self.encoders:
            features, image = encoder(features, image)
            skips.append(features)
        decoded: List[torch.Tensor] = []
        for i, decoder in enumerate(self.decoders):
            features = decoder(features, skips[len(skips) - 2 - i])
            decoded.append(features)
        final = self.final_head(features)
        if self.training and self.deep_supervision:
            # differs from attn_reg's [pred1 (1/8), pred2, pred3, final]: final first, as DeepSupervisionLoss expects
            outputs: List[torch.Tensor] = [final]
            for i, head in enumerate(self.side_heads):
                # decoded[-1] is level 0, decoded[-2] level 1, ...
                outputs.append(head(decoded[len(decoded) - 2 - i]))
            return outputs
        return final
