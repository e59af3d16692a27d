"""Sensitivity-specificity loss (Brosch et al. 2015), one of sudre2017's baselines."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.utils import LossReduction

from .base import _ActivatedRegionLoss, reduce_score

__all__ = ["SensitivitySpecificityLoss"]


class SensitivitySpecificityLoss(_ActivatedRegionLoss):
    """
    Sensitivity-specificity loss as compared in sudre2017:

        Sudre, Li, Vercauteren, Ourselin, Cardoso (2017). *Generalised Dice overlap as a deep learning loss function
        for highly unbalanced segmentations.* DLMIA 2017. https://arxiv.org/abs/1707.03237

        Brosch et al. (2015). *Deep convolutional encoder networks for multiple sclerosis lesion segmentation.*
        MICCAI 2015.

    Adapted from NiftyNet's ``sensitivity_specificity_loss`` (``SensSpec``). Per class (sums over voxels)::

        SS = r * sum((g - p)^2 g) / (sum(g) + s_dr) + (1 - r) * sum((g - p)^2 (1 - g)) / (sum(1 - g) + s_dr)

    The first term is the squared error on the foreground (1 - sensitivity), the second on the background
    (1 - specificity); ``r`` (sudre2017's lambda) weighs the foreground term, 0.05 in both papers.
    ``smooth_nr`` is added to both numerators; its default here is 0 (not MONAI's 1e-5) so that a perfect
    prediction of an empty class scores exactly 0.

    Args:
        include_background: if False, channel index 0 (background) is excluded from the calculation.
        to_onehot_y: whether to convert ``target`` (B, 1, spatial...) into one-hot format.
        sigmoid: if True, apply a sigmoid to the prediction.
        softmax: if True, apply a softmax over channels to the prediction.
        other_act: callable activation used instead of ``sigmoid``/``softmax``.
        r: weight of the foreground (sensitivity) term in [0, 1]. Defaults to 0.05.
        reduction: {``"none"``, ``"mean"``, ``"sum"``}; ``"none"`` returns (B, C), or (C,) with ``batch``.
        smooth_nr: added to both numerators. Defaults to 0.
        smooth_dr: added to both denominators (empty classes). Defaults to 1e-5.
        batch: whether to sum over the batch before dividing.

    Raises:
        ValueError: When ``r`` is outside [0, 1], on an unknown reduction, on incompatible activations, or when
            input and target shapes do not match.
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        r: float = 0.05,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 0.0,
        smooth_dr: float = 1e-5,
        batch: bool = False,
    ) -> None:
        super().__init__(include_background, to_onehot_y, sigmoid, softmax, other_act, reduction, smooth_nr, smooth_dr, batch)
        if not 0.0 <= float(r) <= 1.0:
            raise ValueError(f"r must lie in [0, 1] (weight of the foreground term), got {r}.")
        self.r = float(r)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, C, H, W[, D]) logits or probabilities.
            target: same shape, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.
        """
        input, target = self.prepare(input, target)
        axes = self.reduce_axis(input.ndim)
        sq_err = (target - input) ** 2
        fg = torch.sum(sq_err * target, dim=axes)
        bg = torch.sum(sq_err, dim=axes) - fg
        n_fg = torch.sum(target, dim=axes)
        n_bg = float(torch.Size([input.shape[a] for a in axes]).numel()) - n_fg
        sensitivity_term = (fg + self.smooth_nr) / (n_fg + self.smooth_dr)
        specificity_term = (bg + self.smooth_nr) / (n_bg + self.smooth_dr)
        return reduce_score(self.r * sensitivity_term + (1.0 - self.r) * specificity_term, self.reduction)

    def extra_repr(self) -> str:
        return f"r={self.r}"
