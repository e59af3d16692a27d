"""Weighted cross-entropy of sudre2017 (after Ronneberger et al.), with MONAI's loss conventions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction

from .base import _ActivatedRegionLoss, check_input_target, promote_half, reduce_score

__all__ = ["WeightedCrossEntropyLoss"]

_WEIGHT_SOURCES = ("prediction", "label")


class WeightedCrossEntropyLoss(_ActivatedRegionLoss):
    """
    Weighted cross-entropy (WCE) of sudre2017:

        Sudre, Li, Vercauteren, Ourselin, Cardoso (2017). *Generalised Dice overlap as a deep learning loss function
        for highly unbalanced segmentations.* DLMIA 2017. https://arxiv.org/abs/1707.03237

    Two-class form, with p the foreground probability, r the foreground label and N voxels::

        WCE = -(1/N) sum_n [ w r_n log(p_n) + (1 - r_n) log(1 - p_n) ],   w = (N - sum_n p_n) / sum_n p_n

    Extended to C mutually exclusive classes (``softmax``) as sudre2017 suggest:
    ``-(1/N) sum_n sum_c w_c r_nc log(p_nc)`` with background weight 1 and ``w_c = (N - V_c) / V_c`` for every
    other class. sudre2017 print the weight from the *prediction*
    (``V_c = sum_n p_nc``, the default, ``weight_from="prediction"``); NiftyNet and most re-implementations take the
    label volume (``weight_from="label"``). Either way the weight is a constant for back-propagation (detached),
    and an empty class gets ``w = (N + s_nr) / s_dr`` only where it cannot matter (its label term is zero).
    A fixed ``weight`` (a number for the foreground, or one per channel) replaces the automatic one;
    ``weight=1.0`` is the plain cross-entropy (the registry's ``"CrossEntropy"``).

    Several channels with ``sigmoid=True`` are independent binary problems (multi-label), so each channel c gets
    sudre2017's two-class form, with its own foreground weight and no background channel::

        WCE = -(1/(C N)) sum_c sum_n [ w_c r_nc log(p_nc) + (1 - r_nc) log(1 - p_nc) ],   w_c = (N - V_c) / V_c

    i.e. ``binary_cross_entropy_with_logits(input, target, pos_weight=w)``, averaged over channels and voxels
    (``weight=1.0`` is torch's binary cross-entropy). Here a number ``weight`` is the foreground weight of every
    channel, a sequence gives one per channel, and the automatic weight is computed for every channel, channel 0
    included. ``include_background=False`` drops channel 0's term, as for the softmax.

    Log-probabilities are computed from logits with ``logsigmoid`` / ``log_softmax`` when ``sigmoid`` /
    ``softmax`` is set, so logits of +-1e4 give finite losses; probabilities given directly are clipped to
    ``[1e-7, 1 - 1e-7]`` before the logarithm.

    Args:
        include_background: for C >= 2 channels, False drops the background channel's term (the softmax still
            runs over all channels). Ignored for one channel.
        to_onehot_y: whether to convert ``target`` (B, 1, spatial...) into one-hot format (C >= 2).
        sigmoid: if True, the input holds logits for a sigmoid (one channel, or independent channels).
        softmax: if True, the input holds logits for a softmax over channels.
        other_act: callable activation used instead of ``sigmoid``/``softmax``.
        weight: None for sudre2017's automatic weight, a number (the foreground weight; background weight 1), or a
            sequence with one weight per channel. With several sigmoid channels: the foreground (positive) weight
            of every channel, or one per channel.
        weight_from: ``"prediction"`` (as printed in sudre2017) or ``"label"``: the volume V_c of the automatic weight.
        reduction: {``"none"``, ``"mean"``, ``"sum"``} over images; ``"none"`` returns shape (B,), or a 0-dim
            tensor with ``batch``.
        smooth_nr: added to the automatic weight's numerator.
        smooth_dr: added to the automatic weight's denominator.
        batch: whether the automatic weight is computed over the whole batch instead of per image.

    Raises:
        ValueError: On a negative or wrongly sized ``weight``, an unknown ``weight_from`` or ``reduction``,
            incompatible activations, or when input and target shapes do not match.
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        weight: float | Sequence[float] | torch.Tensor | None = None,
        weight_from: str = "prediction",
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
    ) -> None:
        super().__init__(include_background, to_onehot_y, sigmoid, softmax, other_act, reduction, smooth_nr, smooth_dr, batch)
        if weight_from not in _WEIGHT_SOURCES:
            raise ValueError(f"weight_from must be one of {_WEIGHT_SOURCES}, got {weight_from!r}.")
        self.weight_from = weight_from
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32).flatten()
            if not torch.isfinite(weight).all() or (weight < 0).any():
                raise ValueError(f"weight must hold finite numbers >= 0, got {weight.tolist()}.")
        self.register_buffer("weight", weight, persistent=False)

    def _log_probs(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(p, log p)`` for each class, and for one channel ``(p, log p)`` stacked with its complement.

        Not used for several sigmoid channels (see :meth:`_multi_label`).
        """
        if input.shape[1] == 1:
            if self.sigmoid:
                log_fg, log_bg = F.logsigmoid(input), F.logsigmoid(-input)
                p_fg = torch.sigmoid(input)
            else:
                p_fg = self.activate(input)
                p_fg_c = p_fg.clamp(1e-7, 1.0 - 1e-7)
                log_fg, log_bg = torch.log(p_fg_c), torch.log1p(-p_fg_c)
            return torch.cat([1.0 - p_fg, p_fg], 1), torch.cat([log_bg, log_fg], 1)
        if self.softmax:
            log_p = F.log_softmax(input, 1)
            return log_p.exp(), log_p
        p = self.activate(input)
        return p, torch.log(p.clamp(1e-7, 1.0))

    def _class_weights(self, p: torch.Tensor, target: torch.Tensor, background: bool = True) -> torch.Tensor:
        """Per-(item, class) weights broadcastable to ``p``: foreground classes (N - V) / V.

        With ``background`` channel 0 is the background class, weighted 1 (softmax, and the two-class form);
        without it (independent sigmoid channels) every channel is a foreground and gets its own weight.
        """
        n_ch = p.shape[1]
        if self.weight is not None:
            w = self.weight.to(p.device)
            if w.numel() == 1:
                w = torch.cat([torch.ones(1, device=p.device), w.expand(n_ch - 1)]) if background else w.expand(n_ch)
            elif w.numel() != n_ch:
                raise ValueError(f"weight has {w.numel()} values but the prediction has {n_ch} classes "
                                 f"({'background + foreground' if n_ch == 2 else 'channels'}).")
            return w.view(1, n_ch, *([1] * (p.ndim - 2)))
        axes = self.reduce_axis(p.ndim)
        source = (p if self.weight_from == "prediction" else target).detach()
        volume = source.sum(dim=axes, keepdim=True)
        n = float(torch.Size([p.shape[a] for a in axes]).numel())
        w = (n - volume + self.smooth_nr) / (volume + self.smooth_dr)
        if background:
            w[:, :1] = 1.0  # background (the complement of the foreground in the two-class form)
        return w

    def _multi_label(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-item loss of C >= 2 independent sigmoid channels: sudre2017's two-class form for each channel."""
        w = self._class_weights(torch.sigmoid(input), target, background=False)
        terms = w * target * F.logsigmoid(input) + (1.0 - target) * F.logsigmoid(-input)
        if not self.include_background:
            terms = terms[:, 1:]
        return -terms.flatten(2).mean(2).mean(1)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: (B, C, H, W[, D]) logits or probabilities.
            target: same shape, or (B, 1, H, W[, D]) with ``to_onehot_y=True``.

        Returns:
            the reduced loss, or per-image values of shape (B,) for ``reduction="none"``.
        """
        check_input_target(input, target, self.to_onehot_y)
        input = promote_half(input)
        if self.sigmoid and input.shape[1] > 1:
            per_item = self._multi_label(input, self.encode_target(target, input.shape[1], input.dtype))
            return reduce_score(per_item.mean() if self.batch else per_item, self.reduction)
        p, log_p = self._log_probs(input)
        target = self.encode_target(target, input.shape[1], input.dtype)
        if input.shape[1] == 1:
            target = torch.cat([1.0 - target, target], 1)
        w = self._class_weights(p, target)
        terms = w * target * log_p
        if not self.include_background and input.shape[1] > 1:
            terms = terms[:, 1:]
        per_item = -terms.flatten(2).sum(2).sum(1) / float(terms[0, 0].numel())
        if self.batch:
            per_item = per_item.mean()
        return reduce_score(per_item, self.reduction)

    def extra_repr(self) -> str:
        w = "auto" if self.weight is None else self.weight.tolist()
        return f"weight={w}, weight_from={self.weight_from!r}"
