"""The losses of abraham2018's ablation (Tables 1-2), built by name for one network variant."""

from __future__ import annotations

from torch.nn.modules.loss import _Loss

from .deep_supervision import DeepSupervisionCombinedLoss
from .registry import get_loss
from .tversky_family import validate_tversky_weights

__all__ = ["ABRAHAM2018_LOSSES", "abraham2018_loss"]

#: Loss names of :func:`abraham2018_loss`: the paper's DL, TL and FTL.
ABRAHAM2018_LOSSES: tuple[str, ...] = ("dice", "tversky", "focal_tversky")


def abraham2018_loss(
    name: str = "focal_tversky",
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 4.0 / 3.0,
    deep_supervision: bool = True,
    batch: bool = True,
) -> _Loss:
    """
    The loss of one row of the ablation of abraham2018 (Tables 1-2):

        Abraham, Khan (2019). *A novel focal Tversky loss function with improved attention U-Net for lesion
        segmentation.* ISBI 2019. https://arxiv.org/abs/1810.07842

    Every loss takes logits (``sigmoid=True``) of one lesion map and is built with :func:`get_loss`:

    ============== ==================================================== =============================================
    ``name``       one output (``deep_supervision=False``)              final output / side outputs (deep supervision)
    ============== ==================================================== =============================================
    ``"dice"``     Dice loss (DL, ``"DiceNoSquare"``: 1 - 2TP / (2TP +   DL / DL
                   FP + FN), the Tversky loss with alpha = beta = 0.5)
    ``"tversky"``  Tversky loss (TL, ``"Tversky"``, ``alpha``, ``beta``) TL / TL
    ``"focal_      focal Tversky loss (FTL, ``"FocalTversky"``,          TL / FTL (the paper: "every high dimensional
    tversky"``     ``alpha``, ``beta``, ``gamma``)                      feature representation is supervised with our
                                                                        FTL, with the exception of the last layer")
    ============== ==================================================== =============================================

    With deep supervision the losses are combined by :class:`DeepSupervisionCombinedLoss` (weights 1, labels resized
    to each side output by nearest neighbour), as the authors' Keras code compiles ``attn_reg`` / ``attn_reg_ds``.
    The authors' ``attn_reg`` always scores its final output with the Tversky loss, whatever loss its side outputs
    get; here ``"dice"`` and ``"tversky"`` put one loss on every output, so that the rows "+ DL" and "+ TL" train
    what their names say.

    Naming: ``alpha`` weighs false positives and ``beta`` false negatives (MONAI's convention); abraham2018's
    alpha = 0.7 (on false negatives), beta = 0.3 is ``alpha=0.3, beta=0.7`` here, the defaults. ``gamma`` is the
    paper's (exponent ``1 / gamma``, best 4/3).

    ``batch=True`` (the default) sums TP, FP and FN over the batch before the ratio, as the authors' Keras losses
    do (``K.flatten`` of the whole batch); ``False`` averages per-image losses (MONAI's default).

    Args:
        name: ``"dice"``, ``"tversky"`` or ``"focal_tversky"`` (case-insensitive; ``-`` and ``_`` alike; also
            the paper's abbreviations ``"DL"``, ``"TL"``, ``"FTL"``). Defaults to ``"focal_tversky"``.
        alpha: weight of false positives (ignored by ``"dice"``). Defaults to 0.3.
        beta: weight of false negatives (ignored by ``"dice"``). Defaults to 0.7.
        gamma: focal parameter of ``"focal_tversky"`` (ignored by the others). Defaults to 4/3.
        deep_supervision: whether the network returns ``[final, side_1, ...]`` in training. Defaults to True.
        batch: sum over the batch before the ratio. Defaults to True.

    Returns:
        the loss module.

    Raises:
        ValueError: when ``name`` is unknown (the message lists the names), ``alpha`` or ``beta`` is negative or not
            finite or both are 0, or ``gamma`` is not > 0.
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    key = {"dl": "dice", "tl": "tversky", "ftl": "focal_tversky"}.get(key, key)
    if key not in ABRAHAM2018_LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(ABRAHAM2018_LOSSES)}.")
    common = {"sigmoid": True, "batch": batch}
    validate_tversky_weights(alpha, beta)  # MONAI's TverskyLoss accepts negative weights
    if key == "dice":
        final = get_loss("DiceNoSquare", **common)
        side = final
    else:
        final = get_loss("Tversky", alpha=alpha, beta=beta, **common)
        side = get_loss("FocalTversky", alpha=alpha, beta=beta, gamma=gamma, **common) if key == "focal_tversky" else final
    if not deep_supervision:
        return side if key == "focal_tversky" else final
    return DeepSupervisionCombinedLoss(final_loss=final, side_loss=side)
