"""Input handling shared by every loss in :mod:`monai_tversky.losses`.

MONAI's region losses (``TverskyLoss``, ``DiceLoss``, ``GeneralizedDiceLoss``) each repeat the same preamble:
activation, one-hot encoding of the target, background exclusion and a shape check that fails with an
``AssertionError``. This module holds that preamble once, with the checks our users asked for: a ``ValueError``
that names the shapes, half-precision inputs promoted to float32 before any sum over voxels (a float16 sum over a
64³ patch overflows), and label values checked before one-hot encoding (instead of an index error from inside torch).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch.nn.modules.loss import _Loss

from monai.networks import one_hot
from monai.utils import LossReduction

__all__ = ["validate_activation", "validate_reduction", "check_input_target", "promote_half", "reduce_score"]

_REDUCTIONS = tuple(r.value for r in LossReduction)


def validate_activation(sigmoid: bool, softmax: bool, other_act: Callable | None) -> None:
    """Check the activation arguments exactly as MONAI's losses do.

    Raises:
        TypeError: When ``other_act`` is not ``None`` and not callable.
        ValueError: When more than one of ``sigmoid``, ``softmax`` and ``other_act`` is set.
    """
    if other_act is not None and not callable(other_act):
        raise TypeError(f"other_act must be None or callable but is {type(other_act).__name__}.")
    if int(sigmoid) + int(softmax) + int(other_act is not None) > 1:
        raise ValueError("Incompatible values: more than 1 of [sigmoid=True, softmax=True, other_act is not None].")


def validate_reduction(reduction: LossReduction | str) -> str:
    """Return the reduction's string value.

    Raises:
        ValueError: When ``reduction`` is not one of ``"none"``, ``"mean"``, ``"sum"``.
    """
    value = reduction.value if isinstance(reduction, LossReduction) else reduction
    if value not in _REDUCTIONS:
        raise ValueError(f"Unsupported reduction: {reduction!r}, available options are {list(_REDUCTIONS)}.")
    return str(value)


def validate_positive_real(name: str, value, hint: str = "") -> float:
    """Return ``float(value)`` for a finite real scalar > 0: a Python/NumPy number or a 0-d tensor/array.

    Booleans, strings, complex numbers, tensors/arrays that are not 0-d, non-finite and non-positive values
    raise ``ValueError(f"{name} must be a finite number > 0...")``.
    """
    scalar = None
    if isinstance(value, torch.Tensor):
        if value.ndim == 0 and value.dtype != torch.bool and not value.is_complex():
            scalar = float(value.detach())
    elif isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "iuf":
            scalar = float(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        scalar = float(value)
    if scalar is None or not math.isfinite(scalar) or scalar <= 0:
        raise ValueError(f"{name} must be a finite number > 0{hint}, got {value!r}.")
    return scalar


def validate_non_negative(**weights: float) -> None:
    """Raise ``ValueError`` naming the first weight that is negative or not finite."""
    for name, value in weights.items():
        if not math.isfinite(float(value)) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}.")


def check_input_target(input: torch.Tensor, target: torch.Tensor, to_onehot_y: bool) -> None:
    """Check that ``input`` (B, C, spatial...) and ``target`` fit together before any arithmetic.

    With ``to_onehot_y`` (and C > 1) the target must be a label map (B, 1, spatial...) with the input's batch and
    spatial sizes; otherwise it must have exactly the input's shape.

    Raises:
        ValueError: When either is not a tensor of at least 3 dimensions, or the shapes do not match.
    """
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(f"input and target must be torch tensors, got {type(input).__name__}, {type(target).__name__}.")
    if input.ndim < 3:
        raise ValueError(f"input must have shape (B, C, spatial...) with at least one spatial dim, got {tuple(input.shape)}.")
    if to_onehot_y and input.shape[1] > 1:
        expected = (input.shape[0], 1, *input.shape[2:])
        if tuple(target.shape) != expected:
            raise ValueError(
                f"with to_onehot_y=True the target must be a label map of shape {expected} (B, 1, spatial...) "
                f"matching input {tuple(input.shape)}, got {tuple(target.shape)}."
            )
        return
    if target.shape != input.shape:
        hint = ""
        if target.ndim == input.ndim and target.shape[1] == 1 and input.shape[1] > 1:
            hint = " (a one-channel label map needs to_onehot_y=True)"
        raise ValueError(
            f"ground truth has shape {tuple(target.shape)}, which differs from input {tuple(input.shape)}{hint}."
        )


def check_label_values(target: torch.Tensor, num_classes: int) -> None:
    """Raise ``ValueError`` when a label map to be one-hot encoded holds values outside ``[0, num_classes)``."""
    if target.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(target))  # one pass over the labels
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"label values must lie in [0, {num_classes - 1}] for a {num_classes}-channel prediction, "
            f"got values in [{lo:g}, {hi:g}]."
        )


def promote_half(t: torch.Tensor) -> torch.Tensor:
    """Return ``t`` as float32 if it is float16/bfloat16 or not floating point; otherwise unchanged.

    Sums over a 3D patch overflow float16 (max 65504), and bfloat16 keeps 8 bits of mantissa: losses sum in float32.
    """
    if t.dtype in (torch.float16, torch.bfloat16) or not t.is_floating_point():
        return t.float()
    return t


def reduce_score(score: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a MONAI ``LossReduction`` to a per-item score tensor."""
    if reduction == LossReduction.MEAN.value:
        return torch.mean(score)
    if reduction == LossReduction.SUM.value:
        return torch.sum(score)
    if reduction == LossReduction.NONE.value:
        return score
    raise ValueError(f"Unsupported reduction: {reduction}, available options are {list(_REDUCTIONS)}.")


class _ActivatedRegionLoss(_Loss):
    """Base for our losses that are not MONAI subclasses: MONAI's arguments and input handling, once.

    Subclasses call :meth:`prepare` at the start of ``forward`` and :func:`reduce_score` at its end.
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
    ) -> None:
        super().__init__(reduction=validate_reduction(reduction))
        validate_activation(sigmoid, softmax, other_act)
        validate_non_negative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
        self.include_background = include_background
        self.to_onehot_y = to_onehot_y
        self.sigmoid = sigmoid
        self.softmax = softmax
        self.other_act = other_act
        self.smooth_nr = float(smooth_nr)
        self.smooth_dr = float(smooth_dr)
        self.batch = batch

    def activate(self, input: torch.Tensor) -> torch.Tensor:
        """Apply ``sigmoid`` / ``softmax`` / ``other_act`` to a float32 ``input`` as MONAI does."""
        if self.sigmoid:
            input = torch.sigmoid(input)
        if self.softmax:
            if input.shape[1] == 1:
                warnings.warn("single channel prediction, `softmax=True` ignored.", stacklevel=3)
            else:
                input = torch.softmax(input, 1)
        if self.other_act is not None:
            input = self.other_act(input)
        return input

    def encode_target(self, target: torch.Tensor, n_pred_ch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """One-hot encode ``target`` when ``to_onehot_y`` (label values checked first); return it as ``dtype``."""
        if self.to_onehot_y:
            if n_pred_ch == 1:
                warnings.warn("single channel prediction, `to_onehot_y=True` ignored.", stacklevel=3)
            else:
                check_label_values(target, n_pred_ch)
                target = one_hot(target, num_classes=n_pred_ch)
        return target.to(dtype)  # MONAI's one_hot gives float32 whatever the input's precision

    def prepare(self, input: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Check shapes, promote to float32, activate, one-hot encode and drop the background channel.

        Returns:
            ``(probabilities, target)``, both float32 (or float64 if given so) and of equal shape (B, C', spatial...).
        """
        check_input_target(input, target, self.to_onehot_y)
        input = self.activate(promote_half(input))
        n_pred_ch = input.shape[1]
        target = self.encode_target(target, n_pred_ch, input.dtype)
        if not self.include_background:
            if n_pred_ch == 1:
                warnings.warn("single channel prediction, `include_background=False` ignored.", stacklevel=2)
            else:
                input, target = input[:, 1:], target[:, 1:]
        return input, target

    def reduce_axis(self, ndim: int) -> list[int]:
        """Spatial axes, plus the batch axis when ``batch=True``."""
        axes = list(range(2, ndim))
        return [0, *axes] if self.batch else axes
