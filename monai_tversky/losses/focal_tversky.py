"""Focal Tversky loss of abraham2018."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.losses import TverskyLoss
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from .base import reduce_score, validate_positive_real, validate_reduction
from .tversky_family import prepare_for_tversky, validate_tversky_weights

__all__ = ["FocalTverskyLoss", "focal_power"]

# Below this value x**(1/gamma) is continued by its tangent line: the power's slope is infinite at 0 when
# gamma > 1, so a perfect prediction (1 - TI = 0) would otherwise give an infinite or NaN gradient.
_TANGENT_BELOW = 1e-6


def focal_power(x: torch.Tensor, exponent: float, eps: float = _TANGENT_BELOW) -> torch.Tensor:
    """``x ** exponent`` for ``x >= eps``, continued linearly (value and slope matched at ``eps``) below it.

    Exact where the loss is not already near zero, and finite in value and gradient everywhere, including
    ``x = 0`` and the tiny negative values rounding can give for ``1 - TI``.
    """
    if exponent >= 1.0:
        return x.clamp_min(0.0) ** exponent
    safe = x.clamp_min(eps)  # the unselected torch.where branch must not produce inf gradients either
    tangent = eps**exponent + exponent * eps ** (exponent - 1.0) * (x - eps)
    return torch.where(x >= eps, safe**exponent, tangent)


class FocalTverskyLoss(_Loss):
    """
    Focal Tversky loss of abraham2018:

        Abraham, Khan (2019). *A novel focal Tversky loss function with improved attention U-Net for lesion
        segmentation.* ISBI 2019. https://arxiv.org/abs/1810.07842

    Per class c (eq. 3-4), with the Tversky index ``TI_c`` of salehi2017 computed by ``monai.losses.TverskyLoss``::

        FTL_c = (1 - TI_c) ** (1 / gamma),   TI_c = (TP + s_nr) / (TP + alpha * FP + beta * FN + s_dr)

    then reduced over batch and classes as MONAI does (the paper sums over classes; ``reduction="sum"`` gives that).
    ``gamma = 1`` is exactly the Tversky loss; abraham2018 found ``gamma = 4/3`` best (exponent 0.75) and use
    ``gamma`` in [1, 3]. With ``gamma > 1`` the loss is larger for poorly segmented (small, hard) classes and flatter
    near convergence, which is why the paper supervises the final output with the plain Tversky loss
    (see :class:`~monai_tversky.losses.DeepSupervisionCombinedLoss`).

    Naming: ``alpha`` weighs **false positives** and ``beta`` **false negatives**, as in MONAI's ``TverskyLoss``
    and salehi2017. abraham2018 name them the other way round (their alpha multiplies the false negatives): the
    paper's ``alpha=0.7, beta=0.3`` is this class's default ``alpha=0.3, beta=0.7``.

    Numerics: ``x ** (1/gamma)`` has an infinite slope at 0 for gamma > 1; below ``1e-6`` it is continued by its
    tangent (:func:`focal_power`), so a perfect prediction gives a finite loss and a finite gradient.

    Args:
        include_background: if False, channel index 0 (background) is excluded from the calculation.
        to_onehot_y: whether to convert ``target`` (B, 1, spatial...) into one-hot format. Defaults to False.
        sigmoid: if True, apply a sigmoid to the prediction.
        softmax: if True, apply a softmax over channels to the prediction.
        other_act: callable activation used instead of ``sigmoid``/``softmax``.
        alpha: weight of false positives, >= 0. Defaults to 0.3.
        beta: weight of false negatives, >= 0 (``alpha + beta > 0``). Defaults to 0.7.
        gamma: focal parameter, a real number > 0 (a Python or NumPy number, or a 0-d tensor/array); the exponent
            is ``1 / gamma``. Defaults to 4/3.
        reduction: {``"none"``, ``"mean"``, ``"sum"``}. ``"none"`` returns shape (B, C), or (C,) with ``batch``.
        smooth_nr: a small constant added to the numerator to avoid zero.
        smooth_dr: a small constant added to the denominator to avoid nan.
        batch: whether to sum TP, FP and FN over the batch before dividing. Defaults to False.
        soft_label: whether the target holds soft (non-binary) labels; passed to ``TverskyLoss``.

    Shapes:
        input: (B, C, H, W[, D]). target: the same, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.

    Raises:
        ValueError: When ``gamma`` <= 0, ``alpha`` or ``beta`` < 0, ``alpha + beta = 0``, ``reduction`` is
            unknown, more than one activation is set, or input/target shapes do not match.
        TypeError: When ``other_act`` is not callable.
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 4.0 / 3.0,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
    ) -> None:
        super().__init__(reduction=validate_reduction(reduction))
        validate_tversky_weights(alpha, beta)
        self.gamma = validate_positive_real("gamma", gamma, hint=" (abraham2018 use [1, 3])")
        # The per-class Tversky loss 1 - TI_c, unreduced: MONAI's arithmetic, reused.
        self.tversky = TverskyLoss(
            include_background=include_background,
            to_onehot_y=to_onehot_y,
            sigmoid=sigmoid,
            softmax=softmax,
            other_act=other_act,
            alpha=alpha,
            beta=beta,
            reduction=LossReduction.NONE,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
            soft_label=soft_label,
        )

    def __getattr__(self, name: str):
        # expose the Tversky arguments (alpha, beta, sigmoid, include_background, ...) as attributes of this loss
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name != "tversky" and "tversky" in self.__dict__.get("_modules", {}):
                return getattr(self._modules["tversky"], name)
            raise

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, C, H, W[, D]) logits or probabilities.
            target: same shape as ``input``, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.

        Returns:
            the reduced loss, or a (B, C) tensor ((C,) with ``batch=True``) for ``reduction="none"``.
        """
        input, target = prepare_for_tversky(self.tversky, input, target)
        per_class = self.tversky(input, target)  # 1 - TI_c
        return reduce_score(focal_power(per_class, 1.0 / self.gamma), self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.tversky.alpha}, beta={self.tversky.beta}, gamma={self.gamma:.4g}"
