"""Two-class Dice loss DL2 of sudre2017 (Milletari et al.'s Dice on foreground and background)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.losses.utils import compute_tp_fp_fn
from monai.utils import LossReduction

from .base import _ActivatedRegionLoss, reduce_score

__all__ = ["TwoClassDiceLoss"]


class TwoClassDiceLoss(_ActivatedRegionLoss):
    """
    Two-class Dice loss ``DL_2`` of sudre2017:

        Sudre, Li, Vercauteren, Ourselin, Cardoso (2017). *Generalised Dice overlap as a deep learning loss function
        for highly unbalanced segmentations.* DLMIA 2017. https://arxiv.org/abs/1707.03237

    With p the foreground probability and r the foreground label (sums over voxels)::

        DL_2 = 1 - (sum(p r) + e) / (sum(p + r) + e) - (sum((1-p)(1-r)) + e) / (sum(2 - p - r) + e)

    Each term is half a Dice score, so a perfect prediction gives 0 and the loss lies in [0, 1]. Both classes are
    part of the definition, so ``include_background=False`` is refused. ``e`` is ``smooth_nr`` in the numerators
    and ``smooth_dr`` in the denominators. The default ``smooth_dr = 2 * smooth_nr`` keeps a correctly predicted
    *empty* foreground at half a Dice score like any perfect class, so a perfect prediction scores 0 in every case;
    the printed equation's single epsilon (``smooth_dr = smooth_nr``) scores that case -0.5.

    Args:
        include_background: must be True (kept for MONAI's signature).
        to_onehot_y: whether to convert a 2-channel prediction's ``target`` (B, 1, spatial...) into one-hot format.
        sigmoid: if True, apply a sigmoid to the prediction.
        softmax: if True, apply a softmax over channels to the prediction.
        other_act: callable activation used instead of ``sigmoid``/``softmax``.
        reduction: {``"none"``, ``"mean"``, ``"sum"``}; ``"none"`` returns shape (B,), or a 0-dim tensor with ``batch``.
        smooth_nr: the numerators' epsilon. Defaults to 1e-5.
        smooth_dr: the denominators' epsilon. Defaults to 2e-5 (see above).
        batch: whether to sum over the batch before dividing.

    Shapes:
        input: (B, 1, spatial...) foreground logits/probabilities, or (B, 2, spatial...) background/foreground.
        target: the same shape, or (B, 1, spatial...) with ``to_onehot_y=True`` and 2 channels.

    Raises:
        ValueError: When the input has more than 2 channels, ``include_background=False``, or shapes differ.
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
        smooth_dr: float = 2e-5,
        batch: bool = False,
    ) -> None:
        if not include_background:
            raise ValueError("TwoClassDiceLoss scores foreground and background by definition (sudre2017's DL_2); "
                             "include_background=False is not supported, use monai.losses.DiceLoss instead.")
        super().__init__(include_background, to_onehot_y, sigmoid, softmax, other_act, reduction, smooth_nr, smooth_dr, batch)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, 1 or 2, H, W[, D]) logits or probabilities.
            target: same shape, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.
        """
        if isinstance(input, torch.Tensor) and input.ndim >= 2 and input.shape[1] > 2:
            raise ValueError(f"TwoClassDiceLoss is binary: input must have 1 or 2 channels, got {input.shape[1]}.")
        input, target = self.prepare(input, target)
        if input.shape[1] == 1:  # foreground only: the background class is its complement
            input, target = torch.cat([1.0 - input, input], 1), torch.cat([1.0 - target, target], 1)
        axes = self.reduce_axis(input.ndim)
        tp, fp, fn = compute_tp_fp_fn(input, target, axes, 1, False)
        half_dice = (tp + self.smooth_nr) / (2.0 * tp + fp + fn + self.smooth_dr)  # sum(p + r) = 2 TP + FP + FN
        score = 1.0 - half_dice.sum(dim=-1)
        return reduce_score(score, self.reduction)
