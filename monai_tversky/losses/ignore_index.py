"""Leave voxels of an ignored label value out of any segmentation loss, MONAI's ``ignore_index`` rule."""

from __future__ import annotations

import copy

import torch
from monai.networks import one_hot
from torch.nn.modules.loss import _Loss

from .base import check_input_target, check_label_values, promote_half

__all__ = ["IgnoreIndexLoss"]

_ACTIVATION_ATTRS = ("sigmoid", "softmax", "other_act", "to_onehot_y")


def _without_activation(loss: torch.nn.Module) -> torch.nn.Module:
    """A shallow copy of ``loss`` (sharing its parameters and buffers) with activation and one-hot encoding off, in
    the submodules that do them too (``FocalTverskyLoss`` delegates to a ``TverskyLoss``)."""
    inner = copy.copy(loss)
    inner._modules = type(loss._modules)(loss._modules)  # replacing a child must not touch ``loss``
    for name, child in loss._modules.items():
        if child is not None and all(hasattr(child, a) for a in _ACTIVATION_ATTRS):
            inner._modules[name] = _without_activation(child)
    inner.sigmoid = inner.softmax = inner.to_onehot_y = False
    inner.other_act = None
    return inner


class IgnoreIndexLoss(_Loss):
    """
    Wrap a segmentation loss so that voxels whose label is ``ignore_index`` count in none of its sums, e.g. the WMH
    2017 challenge's "other pathology" (label 2, mapped to :data:`monai_tversky.data.IGNORE_INDEX`), which is neither
    lesion nor background (sudre2017's white-matter hyperintensity task).

    MONAI's ``DiceLoss`` and ``TverskyLoss`` take ``ignore_index`` themselves; ``GeneralizedDiceLoss`` and this
    package's losses do not, so this wrapper applies MONAI's rule to any of them: the wrapped loss's activation
    (``sigmoid`` / ``softmax`` / ``other_act``) and one-hot encoding (``to_onehot_y``) are done here, then both the
    probabilities and the one-hot target are multiplied by the mask of non-ignored voxels
    (``monai.losses.utils.mask_loss_inputs``), and the wrapped loss runs on them with its activation and encoding
    turned off. Every sum of predictions and labels (TP, FP, FN, class volumes, the generalised Dice weights
    1/V², sudre2017) then excludes the ignored voxels. Losses that also count voxels (the weighted cross-entropy's N,
    the sensitivity-specificity's background volume) still count them as voxels with no label and no prediction.
    With a single foreground channel, losses that build the background as ``1 - p`` and ``1 - r`` (the two-class
    Dice DL_2, the weighted cross-entropy) score ignored voxels as correctly predicted background; give them a
    background channel (softmax over two or more channels, as the generalised_dice bundle does) to leave them out.

    Example::

        loss = IgnoreIndexLoss(GeneralizedDiceLoss(to_onehot_y=True, softmax=True), ignore_index=-1)
        loss(logits, label)  # logits (B, C, H, W, D), label (B, 1, H, W, D) with values in 0..C-1 or -1

    Args:
        loss: a segmentation loss with MONAI's attributes ``sigmoid``, ``softmax``, ``other_act`` and
            ``to_onehot_y`` (every MONAI region loss and every loss of this package).
        ignore_index: the label value to leave out (outside ``0..C-1``, as after ``MapLabelValued``).

    Shapes:
        input: (B, C, spatial...) logits or probabilities, as the wrapped loss takes them.
        target: (B, 1, spatial...) label map (with ``to_onehot_y``) holding ``0..C-1`` or ``ignore_index``.

    Raises:
        ValueError: when the loss lacks those attributes, the target is not a label map of the input's batch and
            spatial size, or holds values other than the classes and ``ignore_index``.
    """

    def __init__(self, loss: _Loss, ignore_index: int) -> None:
        super().__init__()
        missing = [a for a in _ACTIVATION_ATTRS if not hasattr(loss, a)]
        if missing:
            raise ValueError(f"{type(loss).__name__} has no attribute(s) {missing}: IgnoreIndexLoss wraps MONAI-style "
                             "losses that apply their own activation and one-hot encoding.")
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ValueError(f"ignore_index must be an int, got {ignore_index!r}.")
        self.loss = loss
        self.ignore_index = ignore_index
        # not a second registered submodule (no duplicate state_dict keys); activation and encoding are done here
        self.__dict__["_inner"] = _without_activation(loss)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, C, spatial...) network output.
            target: (B, 1, spatial...) label map with ``ignore_index`` voxels (or one-hot (B, C, spatial...) when the
                wrapped loss has ``to_onehot_y=False``; a voxel is then ignored when every channel is ``ignore_index``).
        """
        check_input_target(input, target, self.loss.to_onehot_y)
        n_ch = input.shape[1]
        keep = (target != self.ignore_index).all(dim=1, keepdim=True)
        target = torch.where(keep, target, torch.zeros_like(target))
        probs = promote_half(input)
        if self.loss.sigmoid:
            probs = torch.sigmoid(probs)
        if self.loss.softmax and n_ch > 1:
            probs = torch.softmax(probs, 1)
        if self.loss.other_act is not None:
            probs = self.loss.other_act(probs)
        if self.loss.to_onehot_y and n_ch > 1:
            check_label_values(target, n_ch)
            target = one_hot(target, num_classes=n_ch)
        mask = keep.to(probs.dtype)
        return self._inner(probs * mask, target.to(probs.dtype) * mask)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}"
