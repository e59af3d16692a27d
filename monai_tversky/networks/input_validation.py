"""Shape checks that the networks of this package run at the top of ``forward``.

A patch network that halves its feature maps ``n`` times can only take spatial sizes divisible by ``2**n``;
without a check, a wrong size fails deep inside a concatenation with an unhelpful shape error. The check is a
TorchScript-compatible free function so that scripted networks (``torch.jit.script``) keep it. Traced networks
(``torch.jit.trace``, ``convert_to_torchscript(use_trace=True)``) and ONNX exports do not: tracing records tensor
operations only, so the Python ``if``/``raise`` is evaluated once at trace time and dropped, and a bad input then
fails inside the traced graph.
"""

from __future__ import annotations

import torch

__all__ = ["validate_network_input"]


def validate_network_input(
    x: torch.Tensor,
    spatial_dims: int,
    in_channels: int,
    size_divisor: int,
    network_name: str,
    batch_norm_training: bool = False,
) -> None:
    """
    Check that ``x`` is a ``(B, in_channels, *spatial)`` batch whose spatial sizes the network can take.

    Args:
        x: the network input, expected shape ``(B, in_channels, S_1, ..., S_spatial_dims)``.
        spatial_dims: number of spatial dimensions the network was built for.
        in_channels: number of input channels the network was built for.
        size_divisor: every spatial size must be a positive multiple of this (the network's total downsampling).
        network_name: the network's class name, used in the error messages.
        batch_norm_training: whether the network is in training mode with batch norm at its coarsest level.
            Batch norm then needs more than one value per channel at the coarsest level, where the feature maps have
            ``S / size_divisor`` voxels per spatial size: ``B * prod(S / size_divisor) > 1``. Defaults to False.

    Raises:
        ValueError: when ``x`` does not have ``spatial_dims + 2`` dimensions.
        ValueError: when ``x.shape[1] != in_channels``.
        ValueError: when a spatial size is not a positive multiple of ``size_divisor``.
        ValueError: with ``batch_norm_training``, when the coarsest level would have one value per channel.
    """
    if x.dim() != spatial_dims + 2:
        raise ValueError(
            f"{network_name} expects a {spatial_dims + 2}D input (batch, channel, {spatial_dims} spatial dims), "
            f"got shape {x.shape}."
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{network_name} was built for {in_channels} input channels, got {x.shape[1]} (input shape {x.shape})."
        )
    for size in x.shape[2:]:
        if size <= 0 or size % size_divisor != 0:
            raise ValueError(
                f"{network_name} needs every spatial size to be a positive multiple of {size_divisor} "
                f"(its total downsampling factor), got spatial size {size} in input shape {x.shape}; "
                f"pad or crop the input to a multiple of {size_divisor}."
            )
    if batch_norm_training:
        coarsest = x.shape[0]
        for size in x.shape[2:]:
            coarsest *= size // size_divisor
        if coarsest <= 1:
            raise ValueError(
                f"{network_name} in training mode needs more than one value per channel at its coarsest level for "
                f"batch norm, but input shape {x.shape} (batch size {x.shape[0]}, spatial sizes equal to the total "
                f"downsampling factor {size_divisor}) leaves one; use a batch size > 1 or a larger input, or call "
                f".eval()."
            )
