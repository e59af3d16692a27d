"""Deep-supervision combiner of abraham2018: one loss on the final output, another on every side output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.losses import DeepSupervisionLoss
from torch.nn.modules.loss import _Loss

__all__ = ["DeepSupervisionCombinedLoss"]


class DeepSupervisionCombinedLoss(DeepSupervisionLoss):
    """
    Deep supervision with a different loss on the final output, as in abraham2018:

        Abraham, Khan (2019). *A novel focal Tversky loss function with improved attention U-Net for lesion
        segmentation.* ISBI 2019. https://arxiv.org/abs/1810.07842

    "Every high dimensional feature representation is supervised with our FTL, with the exception of the last
    layer" (which uses the Tversky loss, to avoid the focal loss's over-suppression near convergence). Extends
    ``monai.losses.DeepSupervisionLoss`` (same ``weight_mode`` / ``weights`` and nearest-neighbour label resizing)
    with a second loss: ``final_loss`` scores ``outputs[0]`` (the full-resolution output, level 0 in MONAI's
    convention) and ``side_loss`` scores ``outputs[1:]``. Each label is resized to its output's spatial size by
    nearest-neighbour interpolation (``"nearest-exact"``), label maps keeping their integer dtype.
    A network in eval mode that returns one tensor is scored by ``final_loss`` alone. A dict (any ``Mapping``)
    output is read at its ``"pred"`` key, which holds one tensor or the list ``[final, side_1, ...]``; its other
    keys are ignored.

    Example (the focal_tversky bundle)::

        loss = DeepSupervisionCombinedLoss(
            final_loss=TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True),
            side_loss=FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, sigmoid=True),
        )
        loss([final, side_1, side_2, side_3], label)

    Args:
        final_loss: the loss of the final (full-resolution) output, e.g. ``TverskyLoss``.
        side_loss: the loss of the side outputs, e.g. ``FocalTverskyLoss``; defaults to ``final_loss``.
        weight_mode: {``"same"``, ``"exp"``, ``"two"``}: the weights of MONAI's ``DeepSupervisionLoss``
            (``"same"``: all 1, as in abraham2018's Keras code). Defaults to ``"same"``.
        weights: explicit per-output weights (final first); when given its length must equal the number of outputs.

    Raises:
        TypeError: When a loss is not a ``torch.nn.Module``/callable.
        ValueError: On an empty output list, a weights list of the wrong length, a dict output without ``"pred"``,
            or a target whose number of dimensions differs from an output's.
    """

    def __init__(
        self,
        final_loss: _Loss,
        side_loss: _Loss | None = None,
        weight_mode: str = "same",
        weights: Sequence[float] | None = None,
    ) -> None:
        for name, fn in (("final_loss", final_loss), ("side_loss", side_loss)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a loss module, got {type(fn).__name__}.")
        if weight_mode not in ("same", "exp", "two"):
            raise ValueError(f"weight_mode must be one of ('same', 'exp', 'two'), got {weight_mode!r}.")
        super().__init__(loss=final_loss, weight_mode=weight_mode, weights=None if weights is None else list(weights))
        self.side_loss = final_loss if side_loss is None else side_loss

    def resize_target(self, target: torch.Tensor, spatial_size: Sequence[int]) -> torch.Tensor:
        """Nearest-neighbour resize of ``target`` (B, C, spatial...) to ``spatial_size``, keeping its dtype."""
        if tuple(target.shape[2:]) == tuple(spatial_size):
            return target
        resized = F.interpolate(target.float(), size=tuple(spatial_size), mode=self.interp_mode)
        return resized.to(target.dtype)

    @staticmethod
    def _check_dims(output: torch.Tensor, target: torch.Tensor, level: int) -> None:
        """Raise ``ValueError`` naming both shapes when ``target`` cannot be resized to ``output`` (wrong ndim)."""
        if target.ndim != output.ndim:
            raise ValueError(
                f"target has shape {tuple(target.shape)} ({target.ndim} dims) but output {level} has shape "
                f"{tuple(output.shape)} ({output.ndim} dims): expected a (B, C or 1, spatial...) target with as many "
                "dimensions as the outputs."
            )

    def forward(self, input: torch.Tensor | Sequence[torch.Tensor] | Mapping, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: one tensor (B, C, spatial...), or a list/tuple ``[final, side_1, ...]`` of such tensors at any
                spatial sizes, or a ``Mapping`` holding either at key ``"pred"``.
            target: (B, C or 1, spatial...) label at the final output's resolution (as many dimensions as each
                output).

        Returns:
            ``sum_l weight_l * loss_l(output_l, resize(target))``.
        """
        if isinstance(input, Mapping):
            if "pred" not in input:
                raise ValueError(f"a dict output must hold the prediction at key 'pred', got keys {list(input)}.")
            input = input["pred"]
        if input is None:
            raise ValueError("input shouldn't be None.")
        if not isinstance(target, torch.Tensor):
            raise ValueError(f"target must be a torch tensor, got {type(target).__name__}.")
        if isinstance(input, torch.Tensor):
            self._check_dims(input, target, 0)
            return self.loss(input.float(), target)
        if not isinstance(input, Sequence) or isinstance(input, str):
            raise ValueError(f"input must be a tensor, a list/tuple of tensors or a dict, got {type(input).__name__}.")
        outputs = list(input)
        if not outputs:
            raise ValueError("input is an empty sequence: expected the final output followed by side outputs.")
        for level, out in enumerate(outputs):
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"output {level} must be a torch tensor, got {type(out).__name__}.")
            self._check_dims(out, target, level)
        if self.weights is not None and len(self.weights) != len(outputs):
            raise ValueError(f"weights has {len(self.weights)} values but the network returned {len(outputs)} outputs.")
        weights = self.get_weights(levels=len(outputs))
        total = torch.zeros((), dtype=torch.float32, device=target.device)
        for level, (out, w) in enumerate(zip(outputs, weights)):
            loss_fn = self.loss if level == 0 else self.side_loss
            total = total + w * loss_fn(out.float(), self.resize_target(target, out.shape[2:]))
        return total
