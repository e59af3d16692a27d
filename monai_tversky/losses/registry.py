"""NiftyNet-style loss registry: build a loss by name, NiftyNet's names included."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from monai.losses import DiceLoss, GeneralizedDiceLoss, GeneralizedWassersteinDiceLoss, TverskyLoss
from torch.nn.modules.loss import _Loss

from .fbeta import FBetaLoss
from .focal_tversky import FocalTverskyLoss
from .ignore_index import IgnoreIndexLoss
from .sensitivity_specificity import SensitivitySpecificityLoss
from .two_class_dice import TwoClassDiceLoss
from .weighted_cross_entropy import WeightedCrossEntropyLoss

__all__ = ["LOSS_REGISTRY", "get_loss", "loss_names"]

#: name -> factory. NiftyNet's names (``niftynet/layer/loss_segmentation.py``, v0.6) map to the MONAI class that
#: computes the same quantity; ours follow. Keyword arguments given to :func:`get_loss` override the defaults here.
LOSS_REGISTRY: dict[str, Callable[..., _Loss]] = {
    # NiftyNet: dice (squared denominator), dice_nosquare, generalised_dice_loss (type_weight="Square"), ...
    "Dice": partial(DiceLoss, squared_pred=True),
    "DiceNoSquare": partial(DiceLoss, squared_pred=False),
    "Dice_NS": partial(DiceLoss, squared_pred=False),
    "GDSC": partial(GeneralizedDiceLoss, w_type="square"),
    "Tversky": TverskyLoss,
    "SensSpec": SensitivitySpecificityLoss,
    "CrossEntropy": partial(WeightedCrossEntropyLoss, weight=1.0),
    "WGDL": GeneralizedWassersteinDiceLoss,  # needs dist_matrix=...
    # this project's papers
    "GDL": partial(GeneralizedDiceLoss, w_type="square"),  # sudre2017's GDL_v
    "FBeta": FBetaLoss,  # hashemi2018
    "FocalTversky": FocalTverskyLoss,  # abraham2018
    "DL2": TwoClassDiceLoss,  # sudre2017
    "WCE": WeightedCrossEntropyLoss,  # sudre2017
}


def loss_names() -> list[str]:
    """The names :func:`get_loss` accepts."""
    return list(LOSS_REGISTRY)


def get_loss(name: str, ignore_index: int | None = None, **kwargs) -> _Loss:
    """Build a segmentation loss by name, like NiftyNet's ``LossFunction(loss_type=...)``.

    Names are matched case-insensitively; see :data:`LOSS_REGISTRY` for the map. ``"GDSC"`` / ``"GDL"`` is
    MONAI's ``GeneralizedDiceLoss(w_type="square")``, which equals sudre2017's GDL_v (w_l = 1 / V_l^2); a class
    absent from an item's label (V_l = 0, infinite weight) is given the largest weight of the item's present
    classes, MONAI's rule (with ``batch=True``, of the batch).

    Erratum (sudre2017, checked numerically): the paper's printed two-class gradient
    ``dGDL/dp_i = -2 [(w_1^2 - w_2^2)(...) + ...] / [...]^2`` is the gradient of the score GDS = 1 - GDL, i.e. it has
    the opposite sign of ``dGDL/dp_i``. The loss here is GDL itself and autograd gives its exact gradient, which
    ``tests/test_losses_gradients.py`` checks against the printed formula with its sign flipped.

    Args:
        name: a registry name, e.g. ``"Tversky"``, ``"FocalTversky"``, ``"GDSC"``.
        ignore_index: a label value whose voxels count in no sum of the loss (e.g. WMH 2017's "other pathology"),
            MONAI's ``ignore_index``; the loss is then wrapped in :class:`IgnoreIndexLoss`. Defaults to ``None``.
        kwargs: constructor arguments of the loss class, overriding the registry's defaults,
            e.g. ``get_loss("Tversky", alpha=0.3, beta=0.7, sigmoid=True)``.

    Raises:
        ValueError: When ``name`` is not a registered loss (the message lists the valid names).
    """
    if not isinstance(name, str):
        raise ValueError(f"loss name must be a string, got {type(name).__name__}.")
    by_lower = {k.lower(): v for k, v in LOSS_REGISTRY.items()}
    factory = by_lower.get(name.lower())
    if factory is None:
        raise ValueError(f"unknown loss {name!r}; valid names are: {', '.join(loss_names())}.")
    loss = factory(**kwargs)
    return loss if ignore_index is None else IgnoreIndexLoss(loss, ignore_index)
