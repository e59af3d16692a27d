"""Shape checks that the networks of this package run at the top of ``forward``.

A patch network that halves its feature maps ``n`` times can only take spatial sizes divisible by ``2**n``;
without a check, a wrong size fails deep inside a concatenation with an unhelpful shape error. The check is a
TorchScript-compatible free function so that scripted and traced networks keep it.
"""

from __future__ import annotations

import torch

__all__ = ["validate_network_input"]


def validate_network_input(
    x: torch.Tensor, spatial_dims: int, in_channels: int, size_divisor: int, network_name: str
) -> None:
    """
    Check that ``x`` is a ``(B, in_channels, *spatial)`` batch whose spatial sizes the network can take.

    Args:
        x: the network input, expected shape ``(B, in_channels, S_1, ..., S_spatial_dims)``.
        spatial_dims: number of spatial dimensions the network was built for.
        in_channels: number of input channels the network was built for.
        size_divisor: every spatial size must be a positive multiple of this (the network's total downsampling).
        network_name: the network's class name, used in the error messages.

    Raises:
        ValueError: when ``x`` does not have ``spatial_dims + 2`` dimensions.
        ValueError: when ``x.shape[1] != in_channels``.
        ValueError: when a spatial size is not a positive multiple of ``size_divisor``.
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
