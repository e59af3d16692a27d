"""PatchDenseNet3D's memory-efficient training (gradient checkpointing) and fast eval path (batch norm folded,
channels-last): same mathematics as the plain network, checked against it.

Tolerances: both paths compute in the channels-last memory format on the CPU and reorder float sums (the
classifier is applied to each level's part of the concatenation and summed; folded batch norm rounds differently),
so values agree to float rounding, not bit for bit. ``scale`` is the largest magnitude of the reference:

- eval mode: outputs within ``1e-5 * scale`` (gradients with respect to the input, sums over every output voxel,
  within ``1e-4 * scale``);
- training mode against the plain network fed the same channels-last input (the same convolutions): outputs
  within ``1e-4 * scale`` (measured up to 1.1e-5, with one thread), parameter gradients (sums over every voxel of the batch) within ``1e-3 * scale``,
  batch-norm running statistics equal to float rounding (1e-6 relative) and the update counts exactly (what
  checkpointing could break by updating them twice: that would move a running mean by a whole momentum step);
- training mode against the plain network as it runs by default (channels-first) with dropout: outputs within
  ``1e-4 * scale`` (the dropout masks are the same: a different mask would change outputs by ~100 %), gradients
  within ``5e-2 * scale`` (measured: 1.5 % with two threads, 4 % with one): each training-mode batch norm's backward subtracts sums of 2 x 32^3 products that nearly
  cancel, which turns the layout's float rounding into up to ~1.5 % of the first convolution's gradient (three
  levels here; with five at 32^3 the coarsest batch norm sees 16 values per channel and it is worse). Against the
  same layout, the gradients agree within ``1e-3 * scale`` (the test above). Training-mode batch norm at the coarsest levels normalises by the statistics of a few values,
  which amplifies the convolutions' layout-dependent rounding to ~2e-4 of the scale; the plain network itself,
  fed a channels-last copy of its input, differs from itself by as much
  (``test_channels_last_rounding_alone_gives_the_training_tolerance``).
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


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(SMALL, dropout_prob=0.0), (2, 5, 32, 32, 32)),
        (dict(SMALL, dropout_prob=0.0, out_channels=2), (2, 5, 16, 32, 16)),
        (dict(SMALL, dropout_prob=0.0, input_stride=2, in_channels=4), (2, 4, 64, 32, 32)),
    ],
)
def test_memory_efficient_training_equals_the_plain_network(kwargs, shape):
    """Against the plain network on the same (channels-last) input: same convolutions, so close to float rounding
    of the reordered sums, and the running statistics updated once per step (equal to rounding) over two steps."""
    plain, efficient = _pair(**kwargs)
    x = torch.randn(shape)
    for step in range(2):  # two steps: the second runs on running statistics updated by the first
        out_plain = _train_step(plain, _channels_last(x), seed=step)
        out_efficient = _train_step(efficient, x, seed=step)
        # 1e-4: training-mode batch norm at the coarsest levels amplifies the reordered sums' rounding (up to ~1.1e-5
        # of the scale with one thread, where oneDNN splits the sums otherwise), see the module docstring
        _close(out_efficient, out_plain, rel=1e-4)
        for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
            _close(q.grad, p.grad, rel=1e-3)  # summed over 2 x 32^3 voxels, through training-mode batch norm
            p.grad = q.grad = None
        for (name, b), c in zip(plain.named_buffers(), efficient.named_buffers()):
            # checkpointing recomputes batch norm in the backward pass; the running statistics must move only once
            if b.is_floating_point():  # the batch means/variances are reduced in another order: rounding only
                torch.testing.assert_close(c[1], b, rtol=1e-6, atol=1e-7, msg=f"buffer {name} after step {step}")
            else:  # num_batches_tracked: updated exactly once per step
                assert torch.equal(b, c[1]), f"buffer {name} differs after step {step}"


def test_memory_efficient_training_with_dropout_equals_the_plain_network_under_a_fixed_seed():
    """Dropout on: the recomputation must reuse the first pass's masks, and the masks must be those the plain
    (channels-first) network draws under the same seed."""
    # three levels: batch norm at the coarsest level sees 2 x 8^3 values per channel, not 2 x 2^3, and so does not
    # blow the layout's rounding up into the percent range (see the module docstring)
    plain, efficient = _pair(**dict(SMALL, num_blocks=3), dropout_prob=0.5)
    x = torch.randn(2, 5, 32, 32, 32)
    for step in range(2):
        out_plain = _train_step(plain, x, seed=step)
        out_efficient = _train_step(efficient, x, seed=step)
        _close(out_efficient, out_plain, rel=1e-4)
        for p, q in zip(plain.parameters(), efficient.parameters()):
            _close(q.grad, p.grad, rel=5e-2)  # see the module docstring: layout rounding through batch-norm backward
            p.grad = q.grad = None
        for b, c in zip(plain.buffers(), efficient.buffers()):
            torch.testing.assert_close(c, b, rtol=1e-3, atol=1e-5)
    other_seed = _train_step(efficient, x, seed=99)
    assert (other_seed - out_efficient).abs().max() > 1e-2 * out_efficient.abs().max()  # dropout is on


def test_channels_last_rounding_alone_gives_the_training_tolerance():
    plain, _ = _pair(**SMALL, dropout_prob=0.0)
    x = torch.randn(2, 5, 32, 32, 32)
    a, b = _train_step(plain, x, seed=0), _train_step(plain, _channels_last(x), seed=0)
    difference = float((a - b).abs().max() / a.abs().max())
    assert 1e-7 < difference < 1e-3  # the same network, only the memory layout differs


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
        out_plain = _train_step(plain, _channels_last(x), seed=0)
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


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_with_amp_both_paths_equal_the_plain_network():
    """The bundles' GPU set-up: fp16 autocast; memory-efficient training and fast eval against the plain network."""
    plain, efficient = _pair(**SMALL, dropout_prob=0.0)
    plain, efficient = plain.cuda(), efficient.cuda()
    x = torch.randn(2, 5, 32, 32, 32, device="cuda")
    with torch.autocast("cuda"):
        out_plain = _train_step(plain, x, seed=0)
        out_efficient = _train_step(efficient, x, seed=0)
    _close(out_efficient.float(), out_plain.float(), rel=1e-2)  # fp16 rounding of reordered sums
    for p, q in zip(plain.parameters(), efficient.parameters()):
        _close(q.grad.float(), p.grad.float(), rel=2e-2)
    plain.eval()
    efficient.eval()
    with torch.no_grad(), torch.autocast("cuda"):
        _close(efficient(x).float(), plain(x).float(), rel=1e-2)
