"""PatchDenseNet3D's memory-efficient training (gradient checkpointing) and fast eval path (batch norm folded,
channels-last): same mathematics as the plain network, checked against it.

Tolerances: both paths reorder float sums (the classifier is applied to each level's part of the concatenation and
summed; folded batch norm rounds differently), so values agree to float32 rounding, not bit for bit:
outputs and parameter gradients within ``atol = 1e-5 * scale`` where ``scale`` is the largest magnitude of the
reference (gradients with respect to the input, sums over every output voxel, within ``1e-4 * scale``).
Batch-norm running statistics are compared exactly.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from monai_tversky.networks import PatchDenseNet3D

SMALL = dict(growth_rate=3, num_blocks=5, layers_per_block=2, init_features=4, upsample_features=3)


def _pair(**kwargs) -> tuple[PatchDenseNet3D, PatchDenseNet3D]:
    """A plain network and a memory-efficient, fast-eval one with the same (non-trivial) weights and statistics."""
    torch.manual_seed(0)
    plain = PatchDenseNet3D(**kwargs, memory_efficient=False, fast_eval=False)
    for m in plain.modules():  # running statistics and affine parameters away from their initial 0 / 1
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    efficient = PatchDenseNet3D(**kwargs, memory_efficient=True, fast_eval=True)
    efficient.load_state_dict(plain.state_dict())
    return plain, efficient


def _close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = max(float(expected.abs().max()), 1e-12)
    torch.testing.assert_close(actual, expected, rtol=0, atol=rel * scale)


def _train_step(net: PatchDenseNet3D, x: torch.Tensor, seed: int) -> torch.Tensor:
    net.train()
    torch.manual_seed(seed)  # the dropout masks
    out = net(x)
    (out.sigmoid() * torch.linspace(0, 1, out.numel()).reshape(out.shape)).sum().backward()
    return out.detach()


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(SMALL, dropout_prob=0.5), (2, 5, 32, 32, 32)),  # dropout: the recomputation must reuse the mask
        (dict(SMALL, dropout_prob=0.0, out_channels=2), (2, 5, 16, 32, 16)),
        (dict(SMALL, dropout_prob=0.2, input_stride=2, in_channels=4), (2, 4, 64, 32, 32)),
    ],
)
def test_memory_efficient_training_equals_the_plain_network(kwargs, shape):
    plain, efficient = _pair(**kwargs)
    x = torch.randn(shape)
    for step in range(2):  # two steps: the second runs on running statistics updated by the first
        out_plain = _train_step(plain, x, seed=step)
        out_efficient = _train_step(efficient, x, seed=step)
        _close(out_efficient, out_plain)
        for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
            _close(q.grad, p.grad)
            p.grad = q.grad = None
        for (name, b), c in zip(plain.named_buffers(), efficient.named_buffers()):
            # checkpointing recomputes batch norm in the backward pass; the running statistics must move only once
            assert torch.equal(b, c[1]), f"buffer {name} differs after step {step}"


def test_memory_efficient_training_stores_a_fraction_of_the_activations():
    """The point of checkpointing: the tensors autograd keeps for the backward pass, counted in bytes."""

    def saved_bytes(net: PatchDenseNet3D) -> int:
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            if t.requires_grad or t.grad_fn is not None or t.numel() > 1000:  # activations, not scalars
                total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            net.train()(torch.randn(2, 5, 32, 32, 32)).sum()
        return total

    plain, efficient = _pair()  # the paper's sizes
    plain_bytes, efficient_bytes = saved_bytes(plain), saved_bytes(efficient)
    assert efficient_bytes < plain_bytes / 4, (plain_bytes, efficient_bytes)


def test_memory_efficient_training_under_cpu_autocast_equals_the_plain_network():
    plain, efficient = _pair(**SMALL, dropout_prob=0.0)
    x = torch.randn(2, 5, 32, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_plain = _train_step(plain, x, seed=0)
        out_efficient = _train_step(efficient, x, seed=0)
    _close(out_efficient.float(), out_plain.float(), rel=1e-2)  # bf16 rounding of the reordered sums


def test_memory_efficient_is_inactive_without_gradients():
    plain, efficient = _pair(**SMALL, dropout_prob=0.0)
    x = torch.randn(2, 5, 32, 32, 32)
    with torch.no_grad():
        _close(efficient.train()(x), plain.train()(x))


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({}, (2, 5, 32, 32, 32)),  # the paper's sizes
        (dict(SMALL, out_channels=3), (1, 5, 16, 32, 48)),
        (dict(SMALL, input_stride=2, in_channels=4), (1, 4, 64, 32, 32)),
    ],
)
@pytest.mark.parametrize("grad_mode", ["no_grad", "inference_mode"])
def test_fast_eval_equals_the_plain_network(kwargs, shape, grad_mode):
    plain, fast = _pair(**kwargs)
    plain.eval()
    fast.eval()
    x = torch.randn(shape)
    context = torch.no_grad() if grad_mode == "no_grad" else torch.inference_mode()
    with context:
        expected = plain(x)
        actual = fast(x)
    assert actual.shape == expected.shape and actual.is_contiguous()
    _close(actual, expected)
    assert torch.equal((actual > 0), (expected > 0)) or (expected.abs() < 1e-4).any()  # same mask


def test_fast_eval_gradient_with_respect_to_the_input_equals_the_plain_network():
    plain, fast = _pair(**SMALL)
    plain.eval()
    fast.eval()
    x = torch.randn(1, 5, 32, 32, 32)
    grads = []
    for net in (plain, fast):
        xi = x.clone().requires_grad_(True)
        net(xi).sum().backward()
        grads.append(xi.grad)
    _close(grads[1], grads[0], rel=1e-4)  # a sum over 32^3 outputs: more rounding than the outputs themselves


def test_fast_eval_leaves_the_weights_and_the_state_dict_unchanged():
    plain, fast = _pair(**SMALL)
    before = {k: v.clone() for k, v in fast.state_dict().items()}
    with torch.no_grad():
        fast.eval()(torch.randn(1, 5, 32, 32, 32))
    after = fast.state_dict()
    assert list(after) == list(plain.state_dict())  # same keys: checkpoints load either way
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fast_eval_steps_aside_for_forward_hooks():
    """Hooks on sub-modules (MONAI's GradCAM, feature extraction) need the modules to be called one by one."""
    _, fast = _pair(**SMALL)
    fast.eval()
    seen = []
    handle = fast.levels[2].block.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        fast(torch.randn(1, 5, 32, 32, 32))
    handle.remove()
    assert len(seen) == 1


def test_flags_are_plain_attributes_that_can_be_switched():
    plain, fast = _pair(**SMALL)
    fast.eval()
    x = torch.randn(1, 5, 32, 32, 32)
    with torch.no_grad():
        expected = plain.eval()(x)
        fast.fast_eval = False
        _close(fast(x), expected, rel=1e-7)  # the plain path itself
        fast.fast_eval = True
        _close(fast(x), expected)
