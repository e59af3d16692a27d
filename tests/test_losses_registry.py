"""get_loss names, and the losses as MONAI bundle components (short name and dotted path)."""

import pytest
import torch
from monai.bundle import ConfigParser
from monai.losses import DiceLoss, GeneralizedDiceLoss, GeneralizedWassersteinDiceLoss, TverskyLoss

from monai_tversky.losses import (
    FBetaLoss,
    FocalTverskyLoss,
    SensitivitySpecificityLoss,
    TwoClassDiceLoss,
    WeightedCrossEntropyLoss,
    get_loss,
    loss_names,
)


@pytest.mark.parametrize(
    "name, cls, attrs",
    [
        ("Dice", DiceLoss, {"squared_pred": True}),
        ("DiceNoSquare", DiceLoss, {"squared_pred": False}),
        ("GDSC", GeneralizedDiceLoss, {"w_type": "square"}),
        ("Tversky", TverskyLoss, {"alpha": 0.5}),
        ("SensSpec", SensitivitySpecificityLoss, {"r": 0.05}),
        ("CrossEntropy", WeightedCrossEntropyLoss, {}),
        ("FBeta", FBetaLoss, {"f_beta": 1.5}),
        ("FocalTversky", FocalTverskyLoss, {"gamma": 4 / 3}),
        ("DL2", TwoClassDiceLoss, {}),
        ("WCE", WeightedCrossEntropyLoss, {"weight": None}),
        ("gdsc", GeneralizedDiceLoss, {}),  # case-insensitive, like NiftyNet's config files
    ],
)
def test_get_loss_maps_names_to_classes(name, cls, attrs):
    loss = get_loss(name)
    assert type(loss) is cls
    for k, v in attrs.items():
        assert getattr(loss, k) == v


def test_get_loss_kwargs_override_defaults():
    loss = get_loss("Tversky", alpha=0.3, beta=0.7, sigmoid=True)
    assert (loss.alpha, loss.beta, loss.sigmoid) == (0.3, 0.7, True)
    assert get_loss("Dice", squared_pred=False).squared_pred is False
    x, y = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.7).float()
    torch.testing.assert_close(get_loss("FBeta", beta=1.0, sigmoid=True)(x, y), FBetaLoss(beta=1.0, sigmoid=True)(x, y))


def test_crossentropy_is_unweighted():
    x, y = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.7).float()
    torch.testing.assert_close(
        get_loss("CrossEntropy", sigmoid=True)(x, y), torch.nn.functional.binary_cross_entropy_with_logits(x, y)
    )


def test_wgdl_needs_its_distance_matrix():
    loss = get_loss("WGDL", dist_matrix=torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert isinstance(loss, GeneralizedWassersteinDiceLoss)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'Hausdorff'; valid names are: .*FocalTversky"):
        get_loss("Hausdorff")
    for name in ["Dice", "DiceNoSquare", "GDSC", "Tversky", "SensSpec", "CrossEntropy", "FBeta", "FocalTversky", "DL2", "WCE"]:
        assert name in loss_names()


@pytest.mark.parametrize("target", ["FocalTverskyLoss", "monai_tversky.losses.FocalTverskyLoss"])
def test_bundle_config_builds_loss_by_short_name_and_dotted_path(target):
    config = {
        "imports": ["$import monai_tversky"],
        "loss": {"_target_": target, "alpha": 0.3, "beta": 0.7, "gamma": 1.5, "sigmoid": True},
    }
    parser = ConfigParser(config)
    loss = parser.get_parsed_content("loss")
    assert type(loss) is FocalTverskyLoss and loss.gamma == 1.5 and loss.alpha == 0.3


@pytest.mark.parametrize(
    "target, cls",
    [("FBetaLoss", FBetaLoss), ("SensitivitySpecificityLoss", SensitivitySpecificityLoss),
     ("TwoClassDiceLoss", TwoClassDiceLoss), ("WeightedCrossEntropyLoss", WeightedCrossEntropyLoss)],
)
def test_each_loss_resolves_by_short_name(target, cls):
    parser = ConfigParser({"imports": ["$import monai_tversky"], "loss": {"_target_": target}})
    assert type(parser.get_parsed_content("loss")) is cls


def test_get_loss_from_config_expression():
    parser = ConfigParser({"imports": ["$import monai_tversky"], "loss": "$monai_tversky.losses.get_loss('GDSC', softmax=True)"})
    loss = parser.get_parsed_content("loss")
    assert isinstance(loss, GeneralizedDiceLoss) and loss.softmax
