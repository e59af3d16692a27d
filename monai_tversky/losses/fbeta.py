"""F-beta (asymmetric similarity) loss of hashemi2018."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.losses import TverskyLoss
from monai.utils import LossReduction

from .base import validate_positive_real, validate_reduction
from .tversky_family import prepare_for_tversky

__all__ = ["FBetaLoss"]


class FBetaLoss(TverskyLoss):
    """
    Asymmetric similarity loss ``1 - F_beta`` of hashemi2018:

        Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018). *Asymmetric similarity loss function to
        balance precision and recall in highly unbalanced deep medical image segmentation.* IEEE Access.
        https://arxiv.org/abs/1803.11078

    Attributes, beware: the F-beta value you pass as ``beta`` is stored in ``self.f_beta``. ``self.alpha`` and
    ``self.beta`` are the Tversky weights (MONAI's names, used by ``TverskyLoss.forward``): false-positive weight
    ``1 / (1 + beta^2)`` and false-negative weight ``beta^2 / (1 + beta^2)``. So ``FBetaLoss(beta=1.5).beta`` is
    0.692, not 1.5; ``FBetaLoss(beta=1.5).f_beta`` is 1.5.

    Eq. 4 of the paper, per class (sums over voxels; p = probability, g = label)::

        F_beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)
               = TP / (TP + b^2 / (1 + b^2) * FN + 1 / (1 + b^2) * FP)

    i.e. the Tversky index (salehi2017) with false-positive weight ``1 / (1 + b^2)`` and false-negative weight
    ``b^2 / (1 + b^2)``. This class therefore *is* ``monai.losses.TverskyLoss`` with those weights: after
    construction ``self.alpha`` and ``self.beta`` hold the Tversky FP and FN weights that MONAI's forward uses, and
    ``self.f_beta`` holds ``beta``. ``beta = 1`` is the Dice loss; hashemi2018 found ``beta = 1.5`` best
    (b^2 / (1 + b^2) = 0.69, close to salehi2017's best Tversky ``alpha=0.3, beta=0.7``).

    Note (erratum): the gradient printed as eq. 5 in hashemi2018 is not the derivative of eq. 4. With
    ``D = (1+b^2) TP + b^2 FN + FP`` (so dD/dp_j = 1) the exact derivative is
    ``dF/dp_j = (1+b^2) (g_j D - TP) / D^2``, which is also non-zero where g_j = 0. Autograd computes this exact
    gradient; the tests check it against the closed form.

    Differences from ``TverskyLoss``: shape and label errors are ``ValueError`` s that name the shapes (raised
    before the activation), and float16/bfloat16 inputs are summed in float32 so mixed-precision training neither
    overflows nor loses the loss.

    Args:
        include_background: if False, channel index 0 (background) is excluded from the calculation.
        to_onehot_y: whether to convert ``target`` (B, 1, spatial...) into one-hot format. Defaults to False.
        sigmoid: if True, apply a sigmoid to the prediction (single-channel lesion logits: the paper's setting).
        softmax: if True, apply a softmax over channels to the prediction.
        other_act: callable activation used instead of ``sigmoid``/``softmax``, e.g. ``torch.tanh``.
        beta: the F-beta ``beta``, a real number > 0 (a Python or NumPy number, or a 0-d tensor/array); recall is
            weighted ``beta^2`` times as much as precision. Stored as ``self.f_beta`` (``self.beta`` is the FN
            weight). Defaults to 1.5.
        reduction: {``"none"``, ``"mean"``, ``"sum"``} over the (B, C) losses. ``"none"`` returns shape (B, C),
            or (C,) with ``batch=True``. Defaults to ``"mean"``.
        smooth_nr: a small constant added to the numerator to avoid zero.
        smooth_dr: a small constant added to the denominator to avoid nan.
        batch: whether to sum TP, FP and FN over the batch before dividing. Defaults to False.
        soft_label: whether the target holds soft (non-binary) labels; passed to ``TverskyLoss``.

    Shapes:
        input: (B, C, H, W[, D]) logits or probabilities. target: the same shape, or (B, 1, H, W[, D]) label map
        with ``to_onehot_y=True``.

    Raises:
        ValueError: When ``beta`` is not a finite number > 0, ``reduction`` is unknown, more than one activation
            is set, or input/target shapes do not match.
        TypeError: When ``other_act`` is not callable.

    Example::

        >>> loss = FBetaLoss(beta=1.5, sigmoid=True)
        >>> loss(torch.randn(2, 1, 64, 64, 64), torch.randint(0, 2, (2, 1, 64, 64, 64)).float())
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        beta: float = 1.5,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
    ) -> None:
        beta = validate_positive_real("beta", beta)
        b2 = beta**2
        super().__init__(
            include_background=include_background,
            to_onehot_y=to_onehot_y,
            sigmoid=sigmoid,
            softmax=softmax,
            other_act=other_act,
            alpha=1.0 / (1.0 + b2),
            beta=b2 / (1.0 + b2),
            reduction=validate_reduction(reduction),
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
            soft_label=soft_label,
        )
        self.f_beta = beta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, C, H, W[, D]) logits or probabilities.
            target: same shape as ``input``, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.

        Returns:
            the reduced loss, or a (B, C) tensor for ``reduction="none"``.
        """
        input, target = prepare_for_tversky(self, input, target)
        return super().forward(input, target)

    def extra_repr(self) -> str:
        return f"beta={self.f_beta}, fp_weight={self.alpha:.4f}, fn_weight={self.beta:.4f}"
