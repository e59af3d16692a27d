"""DeepSupervisionCombinedLoss: focal Tversky on side outputs, Tversky on the final output (abraham2018)."""

import pytest
import torch
import torch.nn.functional as F
from monai.losses import TverskyLoss

from monai_tversky.losses import DeepSupervisionCombinedLoss, FocalTverskyLoss


def _outputs(spatial=(32, 32), batch=2, channels=1, levels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    sizes = [tuple(s // 2**lvl for s in spatial) for lvl in range(levels)]
    return [torch.randn(batch, channels, *s, generator=g) for s in sizes]


def _nearest(label, size):
    """Independent nearest-neighbour downsampling by an integer factor.

    "nearest-exact" takes source index floor((i + 0.5) * factor) = i * factor + factor // 2 for even factors.
    """
    factor = label.shape[-1] // size[-1]
    idx = [slice(factor // 2, None, factor)] * (label.ndim - 2)
    return label[(slice(None), slice(None), *idx)]


def test_final_uses_tversky_sides_use_focal_with_resized_labels():
    outs = _outputs()
    label = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.8).float()
    final = TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True)
    side = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, sigmoid=True)
    combined = DeepSupervisionCombinedLoss(final_loss=final, side_loss=side)
    expected = final(outs[0], label) + sum(side(o, _nearest(label, o.shape[2:])) for o in outs[1:])
    torch.testing.assert_close(combined(outs, label), expected)


def test_weights_and_weight_mode():
    outs = _outputs()
    label = (torch.rand(2, 1, 32, 32) > 0.8).float()
    final, side = TverskyLoss(sigmoid=True), FocalTverskyLoss(sigmoid=True)
    parts = [final(outs[0], label)] + [side(o, _nearest(label, o.shape[2:])) for o in outs[1:]]
    w = [1.0, 0.25, 0.125]
    combined = DeepSupervisionCombinedLoss(final, side, weights=w)
    torch.testing.assert_close(combined(outs, label), sum(wi * p for wi, p in zip(w, parts)))
    exp_mode = DeepSupervisionCombinedLoss(final, side, weight_mode="exp")
    torch.testing.assert_close(exp_mode(outs, label), parts[0] + 0.5 * parts[1] + 0.25 * parts[2])


def test_integer_label_map_with_to_onehot_and_3d():
    outs = _outputs(spatial=(16, 16, 16), channels=3, levels=2)
    label = torch.randint(0, 3, (2, 1, 16, 16, 16))
    final = TverskyLoss(softmax=True, to_onehot_y=True)
    side = FocalTverskyLoss(softmax=True, to_onehot_y=True)
    combined = DeepSupervisionCombinedLoss(final, side)
    down = F.interpolate(label.float(), size=(8, 8, 8), mode="nearest-exact").long()
    torch.testing.assert_close(combined(outs, label), final(outs[0], label) + side(outs[1], down))


def test_single_tensor_is_scored_by_final_loss_only():
    out = torch.randn(2, 1, 16, 16)
    label = (torch.rand(2, 1, 16, 16) > 0.5).float()
    final = TverskyLoss(sigmoid=True)
    torch.testing.assert_close(DeepSupervisionCombinedLoss(final, FocalTverskyLoss())(out, label), final(out, label))


def test_bad_inputs():
    combined = DeepSupervisionCombinedLoss(TverskyLoss(), FocalTverskyLoss(), weights=[1.0, 0.5])
    with pytest.raises(ValueError, match="weights has 2 values but the network returned 3 outputs"):
        combined(_outputs(), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="empty sequence"):
        combined([], torch.zeros(2, 1, 32, 32))
    with pytest.raises(TypeError, match="final_loss must be a loss module"):
        DeepSupervisionCombinedLoss("tversky")


def test_gradient_reaches_every_output():
    outs = [o.requires_grad_(True) for o in _outputs()]
    label = (torch.rand(2, 1, 32, 32) > 0.8).float()
    DeepSupervisionCombinedLoss(TverskyLoss(sigmoid=True), FocalTverskyLoss(sigmoid=True))(outs, label).backward()
    assert all(o.grad is not None and torch.isfinite(o.grad).all() and o.grad.abs().sum() > 0 for o in outs)


def test_dict_output_is_read_at_pred():
    outs = _outputs()
    label = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(2)) > 0.8).float()
    combined = DeepSupervisionCombinedLoss(TverskyLoss(sigmoid=True), FocalTverskyLoss(sigmoid=True))
    expected = combined(outs, label)
    torch.testing.assert_close(combined({"pred": outs, "features": torch.zeros(1)}, label), expected)
    torch.testing.assert_close(combined({"pred": tuple(outs)}, label), expected)
    # a dict holding one tensor is scored by the final loss alone
    torch.testing.assert_close(combined({"pred": outs[0]}, label), TverskyLoss(sigmoid=True)(outs[0], label))


def test_dict_output_without_pred_is_value_error():
    combined = DeepSupervisionCombinedLoss(TverskyLoss(sigmoid=True))
    with pytest.raises(ValueError, match=r"key 'pred', got keys \['logits', 'side'\]"):
        combined({"logits": torch.zeros(2, 1, 8, 8), "side": []}, torch.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("target_shape", [(2, 32, 32), (2, 1, 1, 32, 32)])
def test_target_with_wrong_number_of_dims_is_value_error_naming_both_shapes(target_shape):
    combined = DeepSupervisionCombinedLoss(TverskyLoss(sigmoid=True), FocalTverskyLoss(sigmoid=True))
    target = torch.zeros(target_shape)
    shape = str(tuple(target_shape)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"target has shape {shape}.*output 0 has shape \(2, 1, 32, 32\)"):
        combined(_outputs(), target)
    with pytest.raises(ValueError, match=rf"target has shape {shape}.*\(2, 1, 32, 32\)"):
        combined(_outputs()[0], target)  # a single tensor (eval mode) is checked too


def test_non_tensor_outputs_are_value_errors():
    combined = DeepSupervisionCombinedLoss(TverskyLoss(sigmoid=True))
    with pytest.raises(ValueError, match="output 1 must be a torch tensor, got str"):
        combined([torch.zeros(2, 1, 8, 8), "side"], torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="a tensor, a list/tuple of tensors or a dict, got int"):
        combined(3, torch.zeros(2, 1, 8, 8))
