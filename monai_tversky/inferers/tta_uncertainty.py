"""One uncertainty score per case from the test-time augmentation variance of :class:`SplineFusionInferer`.

The per-voxel variance over the test-time rotations (``SplineFusionInferer(..., return_variance=True)``) is reduced
to one number per case, e.g. to rank unlabelled studies for annotation (active learning): a case whose rotated
predictions disagree more is a more informative one to label. Test-time augmentation uncertainty follows

    Wang, Li, Aertsen, Deprest, Ourselin, Vercauteren (2019). Aleatoric uncertainty estimation with test-time
    augmentation for medical image segmentation with convolutional neural networks. arXiv:1807.07356
    (Neurocomputing).
"""

from __future__ import annotations

import torch

from monai.data.meta_tensor import MetaTensor

__all__ = ["tta_uncertainty_score"]


def tta_uncertainty_score(variance: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """
    The mean test-time augmentation variance of each case, over its predicted foreground.

    Lesions are a small part of the volume: averaged over the whole volume, the score would mostly measure the
    confident background. So the mean is taken over the voxels where ``mask`` is non-zero (the predicted
    foreground), over all channels of ``variance`` there; for a case whose ``mask`` is empty (nothing predicted),
    and for every case when ``mask`` is None, over the whole volume.

    Example::

        inferer = SplineFusionInferer((64, 64, 64), tta="rot180", return_variance=True, variance_activation="sigmoid")
        with torch.no_grad():
            logits, variance = inferer(image, network)
        scores = tta_uncertainty_score(variance, mask=logits > 0)  # (B,): higher is more uncertain

    Args:
        variance: the per-voxel variance, ``(B, C, *spatial)``, as returned by
            ``SplineFusionInferer(..., return_variance=True)``.
        mask: the predicted foreground, ``(B, 1, *spatial)`` (used for every channel) or ``(B, C, *spatial)``;
            non-zero voxels count, e.g. ``prob > 0.5`` or ``argmax(prob, dim=1, keepdim=True) > 0`` (not a one-hot
            map with its background channel, which covers every voxel). Defaults to None: the whole volume.

    Returns:
        the scores, a float tensor of shape ``(B,)`` on ``variance``'s device (``.tolist()`` for plain floats).

    Raises:
        TypeError: when ``variance`` or ``mask`` is not a tensor.
        ValueError: when ``variance`` has no channel or spatial axis, or ``mask`` does not match its shape.
    """
    if not isinstance(variance, torch.Tensor):
        raise TypeError(f"variance must be a torch.Tensor of shape (B, C, *spatial), got {type(variance).__name__}.")
    if variance.ndim < 3 or variance[0].numel() == 0:
        raise ValueError(f"variance must have shape (B, C, *spatial) and not be empty, got {tuple(variance.shape)}.")
    values = variance.as_tensor() if isinstance(variance, MetaTensor) else variance
    values = values if values.is_floating_point() else values.float()
    whole = values.flatten(1).mean(dim=1)
    if mask is None:
        return whole
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be None or a torch.Tensor, got {type(mask).__name__}.")
    if (
        mask.ndim != values.ndim
        or mask.shape[0] != values.shape[0]
        or mask.shape[1] not in (1, values.shape[1])
        or mask.shape[2:] != values.shape[2:]
    ):
        raise ValueError(
            f"mask must have shape (B, 1, *spatial) or (B, C, *spatial) for variance of shape "
            f"{tuple(values.shape)}, got {tuple(mask.shape)}."
        )
    foreground = (mask.as_tensor() if isinstance(mask, MetaTensor) else mask).to(values.device) != 0
    foreground = foreground.expand_as(values).flatten(1)
    count = foreground.sum(dim=1)
    masked = torch.where(foreground, values.flatten(1), torch.zeros((), dtype=values.dtype, device=values.device))
    return torch.where(count > 0, masked.sum(dim=1) / count.clamp(min=1), whole)
