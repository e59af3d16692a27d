"""Loss functions of salehi2017, abraham2018, hashemi2018 and sudre2017, as native MONAI losses.

Every class takes MONAI's arguments (``include_background, to_onehot_y, sigmoid, softmax, other_act, reduction,
smooth_nr, smooth_dr, batch``) with MONAI's meaning. The Tversky loss itself (salehi2017) and the generalised Dice
loss (sudre2017's GDL_v) are MONAI's ``TverskyLoss`` and ``GeneralizedDiceLoss(w_type="square")``; :func:`get_loss`
returns them by name (``"GDSC"`` / ``"GDL"`` for the generalised Dice loss).

Erratum (sudre2017): the printed two-class gradient of the generalised Dice loss has the opposite sign; it is the
gradient of the score GDS = 1 - GDL, not of the loss GDL. Autograd differentiates the loss exactly.
"""

from .ablation import ABRAHAM2018_LOSSES, abraham2018_loss
from .deep_supervision import DeepSupervisionCombinedLoss
from .fbeta import FBetaLoss
from .focal_tversky import FocalTverskyLoss
from .ignore_index import IgnoreIndexLoss
from .registry import LOSS_REGISTRY, get_loss, loss_names
from .sensitivity_specificity import SensitivitySpecificityLoss
from .two_class_dice import TwoClassDiceLoss
from .weighted_cross_entropy import WeightedCrossEntropyLoss

__all__ = [
    "ABRAHAM2018_LOSSES",
    "DeepSupervisionCombinedLoss",
    "FBetaLoss",
    "FocalTverskyLoss",
    "IgnoreIndexLoss",
    "LOSS_REGISTRY",
    "SensitivitySpecificityLoss",
    "TwoClassDiceLoss",
    "WeightedCrossEntropyLoss",
    "abraham2018_loss",
    "get_loss",
    "loss_names",
]
