"""Checks shared by the losses built on MONAI's ``TverskyLoss`` (``FBetaLoss``, ``FocalTverskyLoss``)."""

from __future__ import annotations

import torch

from .base import check_input_target, check_label_values, promote_half, validate_activation, validate_non_negative

__all__ = ["validate_tversky_weights", "prepare_for_tversky"]


def validate_tversky_weights(alpha: float, beta: float) -> None:
    """Raise ``ValueError`` unless ``alpha`` and ``beta`` are finite, >= 0 and not both zero.

    With ``alpha + beta = 0`` the Tversky index is TP / TP: 1 for every prediction, a loss with no gradient.
    """
    validate_non_negative(alpha=alpha, beta=beta)
    if alpha + beta <= 0:
        raise ValueError(f"alpha + beta must be > 0 (the index would ignore every error), got alpha={alpha}, beta={beta}.")


def prepare_for_tversky(loss, input: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``input``/``target`` for a ``TverskyLoss``-like ``loss`` and promote half precision to float32.

    MONAI's ``TverskyLoss`` reports a shape mismatch with an ``AssertionError`` after the activation, sums in the
    input's dtype (float16 overflows on a 3D patch) and lets an out-of-range label fail inside ``one_hot``.
    """
    validate_activation(loss.sigmoid, loss.softmax, loss.other_act)
    check_input_target(input, target, loss.to_onehot_y)
    input = promote_half(input)
    if loss.to_onehot_y and input.shape[1] > 1:
        check_label_values(target, input.shape[1])
        return input, target  # a label map: MONAI's one_hot takes it as it is (a float copy would be wasted)
    return input, target.to(input.dtype)
