"""B-spline weighted fusion of overlapping patch predictions with test-time rotations (hashemi2018, section III.C)."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from monai.data.meta_tensor import MetaTensor
from monai.inferers import Inferer
from monai.utils import PytorchPadMode, convert_to_dst_type, fall_back_tuple, look_up_option, optional_import

from .bspline import _bspline_window, _cached_weight_map, _check_order
from .window_grid import WindowGrid, padded_window_grid

tqdm, _ = optional_import("tqdm", name="tqdm")
logger = logging.getLogger("monai_tversky")

__all__ = ["SplineFusionInferer"]

_FUSIONS = ("spline", "uniform", "tile")
_VARIANCE_ACTIVATIONS = ("sigmoid", "softmax")


class SplineFusionInferer(Inferer):
    """
    Sliding-window inference with B-spline weighted soft voting of overlapping patch predictions and test-time
    rotations, a drop-in for MONAI's :py:class:`monai.inferers.SlidingWindowInferer`.

    From hashemi2018: Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018). *Asymmetric similarity loss
    function to balance precision and recall in highly unbalanced deep medical image segmentation.*
    arXiv:1803.11078 (IEEE Access), section III.C "3D patch prediction fusion". Window bookkeeping follows MONAI's
    ``sliding_window_inference``; the cached window map and the test-time augmentation loop around the network
    call follow nnU-Net v2 (``nnunetv2/inference/sliding_window_prediction.py``).

    The image is padded by ``roi_size - stride`` on each side (half a window at 50% overlap, as in the paper) and
    covered by a regular grid of windows (:func:`padded_window_grid`): a 128×224×256 volume with 64³ windows at
    ``overlap=0.5`` gives 5×8×9 windows, and every voxel lies in 2^d of them. Each window prediction ``p`` is
    weighted by the window map ``w`` and the result is ``Σ w·p / Σ w``:

    - ``fusion="spline"``: ``w`` is the separable cardinal B-spline of degree ``spline_order`` stretched over the
      window (:func:`bspline_weight_map`), sampled at voxel centres, hence positive up to the window edges: the
      weights never give NaN or Inf.
    - ``fusion="uniform"``: ``w = 1``, the plain average (MONAI's ``mode="constant"``).
    - ``fusion="tile"``: no overlap (``overlap`` is ignored), each voxel is predicted by exactly one window.

    With ``tta="rot180"`` each window is also predicted after a 180° rotation in each of the ``d(d-1)/2`` planes
    (a flip of both axes of the plane; three in 3D, four predictions per window), each rotated back before fusion.

    With ``return_variance=True`` the spread of these ``T`` predictions comes back as well, a per-voxel uncertainty
    map (test-time augmentation uncertainty, as in Wang et al. 2019, *Aleatoric uncertainty estimation with
    test-time augmentation for medical image segmentation with convolutional neural networks*, arXiv:1807.07356):
    per window, the population variance ``Σ(a_t - ā)² / T`` over the ``T`` rotated-back predictions ``a_t``
    (after ``variance_activation``), fused over the windows with the same weights as the mean,
    ``Σ w·var / Σ w``. Only per-window sums are kept: no full-volume copy per augmentation.
    :func:`tta_uncertainty_score` turns the map into one score per case.

    Example::

        inferer = SplineFusionInferer(roi_size=(64, 64, 64), sw_batch_size=4, fusion="spline", tta="rot180")
        network.eval()
        with torch.no_grad():
            prob = inferer(image, network)  # image: (B, C, H, W, D), prob: (B, C_out, H, W, D)

        uncertain = SplineFusionInferer((64, 64, 64), tta="rot180", return_variance=True, variance_activation="sigmoid")
        with torch.no_grad():
            logits, variance = uncertain(image, network)  # both (B, C_out, H, W, D); variance of sigmoid(logits)

    Args:
        roi_size: the window size, one int per spatial axis (an int is used for every axis). Non-positive
            components use the image size along that axis, as in MONAI.
        sw_batch_size: number of windows per network call. Defaults to 1.
        overlap: fraction of a window shared by two neighbours, in ``[0, 1)``, one value or one per axis.
            Defaults to 0.5 (hashemi2018).
        fusion: ``"spline"`` (default), ``"uniform"`` or ``"tile"``, see above.
        spline_order: degree of the B-spline for ``fusion="spline"``, ``>= 0``. Defaults to 2 (quadratic);
            0 is the same as ``"uniform"``.
        tta: test-time augmentation: None (default), ``"rot180"``, or a sequence of flip-axis tuples over the
            spatial axes (0-based), one network call per tuple, e.g. ``[(), (0,), (1,), (0, 1)]``; ``()`` is the
            original. Each flip is undone on the prediction before fusion and the predictions are averaged.
        padding_mode: {``"constant"``, ``"reflect"``, ``"replicate"``, ``"circular"``}, how the image is padded.
            Defaults to ``"constant"``.
        cval: fill value for ``padding_mode="constant"``. Defaults to 0.
        sw_device: device on which the windows are predicted, e.g. ``"cuda"``. Defaults to the input's device.
        device: device of the fused output, e.g. ``"cpu"`` for large volumes. Defaults to the input's device.
        progress: whether to show progress over the window batches: a ``tqdm`` bar on a terminal, a log line every
            30 s otherwise (output redirected to a file). Defaults to False.
        output_index: which output to fuse when the network returns a tuple/list (an index; default 0, the first,
            e.g. the full-resolution output of deep supervision) or a dict (a key; default the only key).
        pad_border: pad by ``roi_size - stride`` on each side (hashemi2018). False pads only to a whole number of
            strides, which needs fewer windows (as many as MONAI) but predicts border voxels from window edges
            only. Defaults to True.
        return_variance: also return the per-voxel variance over the ``T`` test-time augmentation predictions,
            see above; needs ``tta`` with at least two predictions. Defaults to False.
        variance_activation: what the variance is taken of: None (default) the network output as it is (for a
            network that returns probabilities), ``"sigmoid"`` or ``"softmax"`` (over the channels) of it (for a
            network that returns logits: the variance of logits has no fixed scale, that of probabilities lies in
            ``[0, 1/4]``; MONAI Label's epistemic scoring also works on probabilities). Only the variance uses it:
            the mean stays the fused network output. Ignored when ``return_variance`` is False.

    Returns (of ``__call__``):
        the fused prediction, ``(B, C_out, *spatial)`` with the input's spatial shape, on ``device``, in the
        input's floating dtype (at least float32); a ``MetaTensor`` with the input's metadata when the input is one.
        With ``return_variance=True`` a tuple ``(prediction, variance)``: the same prediction, and the variance
        of the same shape, dtype, device and metadata.

    Raises:
        ValueError: when an argument is out of range or unknown (``overlap``, ``fusion``, ``tta``,
            ``variance_activation``, ...), or ``return_variance`` is set without test-time augmentation.
        TypeError: when an argument has the wrong type.

    Note:
        As with MONAI's inferers, call it under ``torch.no_grad()`` (or ``torch.inference_mode()``) with the
        network in eval mode. The network must return windows of the input window's spatial size.
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        sw_batch_size: int = 1,
        overlap: Sequence[float] | float = 0.5,
        fusion: str = "spline",
        spline_order: int = 2,
        tta: str | Sequence[Sequence[int]] | None = None,
        padding_mode: PytorchPadMode | str = PytorchPadMode.CONSTANT,
        cval: float = 0.0,
        sw_device: torch.device | str | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        output_index: int | str | None = None,
        pad_border: bool = True,
        return_variance: bool = False,
        variance_activation: str | None = None,
    ) -> None:
        super().__init__()
        self.roi_size = _check_roi_size(roi_size)
        if isinstance(sw_batch_size, bool) or not isinstance(sw_batch_size, (int, np.integer)) or sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be a positive int, got {sw_batch_size!r}.")
        self.sw_batch_size = int(sw_batch_size)
        self.overlap = _check_overlap(overlap, self.roi_size)
        if not isinstance(fusion, str) or fusion.lower() not in _FUSIONS:
            raise ValueError(f"fusion must be one of {_FUSIONS}, got {fusion!r}.")
        self.fusion = fusion.lower()
        self.spline_order = _check_order(spline_order)
        # "none"/"null" (a command line, MONAI Label's per-request options) are kept as None: no test-time augmentation
        self.tta = None if isinstance(tta, str) and tta.lower() in ("none", "null") else tta
        flips = _check_tta(tta, len(self.roi_size) if isinstance(self.roi_size, tuple) else None)  # validate eagerly
        try:
            self.padding_mode = look_up_option(padding_mode, PytorchPadMode).value
        except ValueError as e:
            modes = [m.value for m in PytorchPadMode]
            raise ValueError(f"padding_mode must be one of {modes}, got {padding_mode!r}.") from e
        if isinstance(cval, bool) or not isinstance(cval, (int, float)):
            raise TypeError(f"cval must be a number, got {cval!r}.")
        self.cval = float(cval)
        self.sw_device = None if sw_device is None else torch.device(sw_device)
        self.device = None if device is None else torch.device(device)
        self.progress = bool(progress)
        if output_index is not None and (isinstance(output_index, bool) or not isinstance(output_index, (int, str))):
            raise TypeError(f"output_index must be None, an int or a str, got {output_index!r}.")
        self.output_index = output_index
        self.pad_border = bool(pad_border)
        if not isinstance(return_variance, (bool, np.bool_)):
            raise TypeError(f"return_variance must be a bool, got {return_variance!r}.")
        self.return_variance = bool(return_variance)
        if self.return_variance and flips is not None and len(flips) < 2:  # None: rot180, checked at the call
            raise ValueError(
                f"return_variance needs tta with at least two predictions ('rot180' or two or more flips), got "
                f"tta={tta!r}: the variance is taken over the test-time augmentation predictions."
            )
        activation = variance_activation.lower() if isinstance(variance_activation, str) else variance_activation
        self.variance_activation = None if activation in ("none", "null") else activation  # "null": as for tta
        if self.variance_activation is not None and self.variance_activation not in _VARIANCE_ACTIVATIONS:
            raise ValueError(f"variance_activation must be None, 'sigmoid' or 'softmax', got {variance_activation!r}.")

    def __call__(
        self,
        inputs: torch.Tensor,
        network: Callable[..., torch.Tensor | Sequence[torch.Tensor] | Mapping[Any, torch.Tensor]],
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """
        Fuse the window predictions of ``network`` over ``inputs``.

        Args:
            inputs: image batch, ``(B, C, *spatial)`` with 1 to 3 (or more) spatial axes, tensor or ``MetaTensor``.
            network: callable mapping a window batch ``(n, C, *roi_size)`` to ``(n, C_out, *roi_size)`` (or a
                tuple/list/dict holding such a tensor, see ``output_index``).
            args: optional positional arguments passed to ``network``.
            kwargs: optional keyword arguments passed to ``network``.

        Returns:
            the fused prediction ``(B, C_out, *spatial)``, or with ``return_variance`` the tuple
            ``(prediction, variance)`` of two such tensors, see the class docstring.

        Raises:
            TypeError: when ``inputs`` is not a tensor or the network output holds no tensor.
            ValueError: when ``inputs`` does not match ``roi_size``/``tta``, or the network output has the wrong
                batch or spatial size, or ``return_variance`` is set and ``tta="rot180"`` gives a single
                prediction (one spatial axis).
        """
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"inputs must be a torch.Tensor of shape (B, C, *spatial), got {type(inputs).__name__}.")
        num_dims = inputs.ndim - 2
        if num_dims < 1:
            raise ValueError(f"inputs must have shape (B, C, *spatial), got shape {tuple(inputs.shape)}.")
        roi_size = self.roi_size if isinstance(self.roi_size, tuple) else (self.roi_size,) * num_dims
        if len(roi_size) != num_dims:
            raise ValueError(
                f"roi_size {roi_size} has {len(roi_size)} spatial axes but inputs of shape {tuple(inputs.shape)} "
                f"have {num_dims}; inputs must be channel-first with a batch axis, (B, C, *spatial)."
            )
        flips = _check_tta(self.tta, num_dims)
        if self.return_variance and len(flips) < 2:
            raise ValueError(
                f"return_variance needs tta with at least two predictions, but tta={self.tta!r} gives one for "
                f"{num_dims} spatial axis."
            )
        batch_size, _, *image_size = inputs.shape
        if batch_size == 0 or min(image_size) == 0:
            raise ValueError(f"inputs must not be empty, got shape {tuple(inputs.shape)}.")
        roi_size = tuple(fall_back_tuple(roi_size, image_size))  # non-positive components: the image size
        overlap = self.overlap if isinstance(self.overlap, tuple) else (self.overlap,) * num_dims
        grid = padded_window_grid(image_size, roi_size, (0.0,) * num_dims if self.fusion == "tile" else overlap,
                                  self.pad_border)

        meta_src = inputs if isinstance(inputs, MetaTensor) else None
        image = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs  # plain tensor: no per-slice meta
        device = self.device or image.device
        sw_device = self.sw_device or image.device
        dtype = torch.promote_types(image.dtype, torch.float32)  # accumulate in at least float32
        padded = self.padding_mode != "constant" and any(grid.torch_pad)
        if padded:  # constant padding is done window by window instead, without a padded copy of the image
            _check_padding(self.padding_mode, image_size, grid)
            image = F.pad(image, grid.torch_pad, mode=self.padding_mode)

        weight = None
        if self.fusion == "spline":
            weight = _cached_weight_map(roi_size, self.spline_order, dtype, torch.device(device))
        outputs = self._fuse(
            image, padded, network, grid, image_size, weight, flips, sw_device, device, dtype, args, kwargs
        )

        # divide once; Σw is separable (separable map, grid of windows): a product of one 1D sum per axis
        axis_weights = None if self.fusion == "tile" else [
            _bspline_window(r, self.spline_order) if self.fusion == "spline" else np.ones(r) for r in roi_size
        ]
        # the sum of the T predictions is divided by T; the variance is already a per-window mean over them
        for output, num_predictions in zip(outputs, (len(flips), 1)):
            if axis_weights is not None:
                _divide_by_weight_sum(output, grid, image_size, axis_weights, num_predictions)
            elif num_predictions > 1:
                output.mul_(1.0 / num_predictions)
        if meta_src is not None:
            outputs = [
                convert_to_dst_type(output, MetaTensor([]).copy_meta_from(meta_src, copy_attr=False),
                                    dtype=output.dtype, device=device)[0]
                for output in outputs
            ]
        return (outputs[0], outputs[1]) if self.return_variance else outputs[0]

    def _fuse(
        self,
        image: torch.Tensor,
        padded: bool,
        network: Callable,
        grid: WindowGrid,
        image_size: Sequence[int],
        weight: torch.Tensor | None,
        flips: list[tuple[int, ...]],
        sw_device: torch.device,
        device: torch.device,
        dtype: torch.dtype,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> list[torch.Tensor]:
        """
        Accumulate ``Σ w·p`` over all windows into an output of the unpadded image size (``p`` for tiling), for
        each tensor that :meth:`_predict` returns (the sum over the flips, and with ``return_variance`` their
        variance).

        ``image`` is the padded image when ``padded``, else the image itself, padded with ``cval`` window by window.
        """
        batch_size, channels = image.shape[:2]
        roi_size = grid.roi_size
        # per axis and window: (slice in the padded image, its part inside the image, the same part in the window)
        axes = []
        for starts, before, size, roi in zip(grid.starts, grid.pad_before, image_size, roi_size):
            lo = [max(0, s - before) for s in starts]
            hi = [min(size, s - before + roi) for s in starts]
            axes.append([
                (slice(s, s + roi), slice(a, b), slice(a - s + before, b - s + before))
                for s, a, b in zip(starts, lo, hi)
            ])
        windows = [
            (
                tuple(ax[0] for ax in window),
                tuple(ax[1] for ax in window),
                tuple(ax[2] for ax in window),
                any(ax[2].stop - ax[2].start < r for ax, r in zip(window, roi_size)),  # crosses the image border
            )
            for window in itertools.product(*axes)
        ]
        num_windows = len(windows)
        total = batch_size * num_windows
        buffer = torch.empty((min(self.sw_batch_size, total), channels, *roi_size), dtype=image.dtype,
                             device=sw_device)
        outputs: list[torch.Tensor] | None = None
        starts = range(0, total, self.sw_batch_size)
        for first in _progress(starts, self.progress):
            index = [divmod(i, num_windows) for i in range(first, min(first + self.sw_batch_size, total))]
            for k, (b, w) in enumerate(index):
                in_padded, inside, local, border = windows[w]
                if padded:
                    buffer[k].copy_(image[(b, slice(None), *in_padded)])
                elif border:  # fill the part outside the image with cval, one slab per side and axis
                    for axis, (part, roi) in enumerate(zip(local, roi_size)):
                        lead = (slice(None),) * (axis + 1)
                        if part.start > 0:
                            buffer[k][(*lead, slice(0, part.start))].fill_(self.cval)
                        if part.stop < roi:
                            buffer[k][(*lead, slice(part.stop, roi))].fill_(self.cval)
                    buffer[k][(slice(None), *local)].copy_(image[(b, slice(None), *inside)])
                else:
                    buffer[k].copy_(image[(b, slice(None), *inside)])
            preds = self._predict(buffer[: len(index)], network, flips, device, dtype, args, kwargs)
            if outputs is None:  # allocated once the output channel count is known
                make = torch.empty if self.fusion == "tile" else torch.zeros  # tiling writes each voxel once
                outputs = [make((batch_size, p.shape[1], *image_size), dtype=dtype, device=device) for p in preds]
            for k, (b, w) in enumerate(index):
                _, inside, local, border = windows[w]
                for pred, output in zip(preds, outputs):
                    target = output[(b, slice(None), *inside)]
                    window_pred = pred[(k, slice(None), *local)] if border else pred[k]
                    if weight is not None:
                        target.addcmul_(window_pred, weight[local] if border else weight)
                    elif self.fusion == "uniform":
                        target.add_(window_pred)
                    else:
                        target.copy_(window_pred)
        assert outputs is not None  # total >= 1
        return outputs

    def _predict(
        self,
        windows: torch.Tensor,
        network: Callable,
        flips: list[tuple[int, ...]],
        device: torch.device,
        dtype: torch.dtype,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> tuple[torch.Tensor, ...]:
        """
        Sum of the network predictions over the test-time flips, each flipped back, on ``device``; with
        ``return_variance`` also their per-voxel population variance (after ``variance_activation``).
        """
        total: torch.Tensor | None = None
        # variance from sums of a_t - a_0 (shifted by the first prediction): the same Σa²/T - ā² as from raw sums,
        # without the cancellation of two large, nearly equal terms when the spread is small (large logits, float32)
        first: torch.Tensor | None = None
        shifted_sum: torch.Tensor | None = None
        shifted_squares: torch.Tensor | None = None
        # Under no_grad (MONAI's evaluators, inference) the network runs in inference mode, which skips autograd's
        # version counting and view tracking (~5 % of a PatchDenseNet3D window on the CPU); its outputs are only
        # read below, never modified in place. With gradients enabled nothing changes.
        no_autograd = not torch.is_grad_enabled()
        for axes in flips:
            dims = [a + 2 for a in axes]
            with torch.inference_mode(no_autograd):
                out = network(windows.flip(dims) if dims else windows, *args, **kwargs)
            pred = self._select(out, windows.shape)
            if dims:
                pred = pred.flip(dims)  # a copy, ours to modify
            if self.return_variance:  # on the network's device: window batches only
                prob = self._activate(pred.to(dtype=dtype))
                if first is None:  # kept unchanged: a copy, as it may be the network's output or input
                    first = prob.clone() if self.variance_activation is None else prob
                    shifted_sum, shifted_squares = torch.zeros_like(first), torch.zeros_like(first)
                else:
                    diff = prob - first
                    shifted_sum.add_(diff)
                    shifted_squares.addcmul_(diff, diff)
            if total is None:  # the network may return (a view of) its input: copy before accumulating into it
                total = pred.to(device=device, dtype=dtype, copy=len(flips) > 1 and not dims)
            else:
                total.add_(pred.to(device=device, dtype=dtype))
        assert total is not None  # flips is not empty
        if not self.return_variance:
            return (total,)
        assert shifted_sum is not None and shifted_squares is not None  # two or more flips
        # out of place: with gradients enabled, autograd needs the operands (window batches only)
        variance = shifted_squares / len(flips) - (shifted_sum / len(flips)).square()
        return total, variance.clamp(min=0.0).to(device=device)  # rounding may leave tiny negatives

    def _activate(self, pred: torch.Tensor) -> torch.Tensor:
        """``variance_activation`` of a window batch ``(n, C_out, ...)``."""
        if self.variance_activation == "sigmoid":
            return torch.sigmoid(pred)
        if self.variance_activation == "softmax":
            return torch.softmax(pred, dim=1)
        return pred

    def _select(self, out: Any, window_shape: torch.Size) -> torch.Tensor:
        """The tensor to fuse from the network output (tensor, tuple/list or dict), with its shape checked."""
        if isinstance(out, Mapping):
            if self.output_index is None:
                if len(out) != 1:
                    raise ValueError(
                        f"the network returned a dict with keys {list(out)}: set output_index to the key to fuse."
                    )
                out = next(iter(out.values()))
            elif self.output_index not in out:
                raise ValueError(f"output_index {self.output_index!r} is not a key of the network output {list(out)}.")
            else:
                out = out[self.output_index]
        elif isinstance(out, (tuple, list)):
            index = 0 if self.output_index is None else self.output_index
            if not isinstance(index, int) or not -len(out) <= index < len(out):
                raise ValueError(f"output_index {index!r} is not valid for a network output of {len(out)} items.")
            out = out[index]
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the network output to fuse must be a torch.Tensor, got {type(out).__name__}.")
        if out.ndim != len(window_shape) or out.shape[0] != window_shape[0] or out.shape[2:] != window_shape[2:]:
            raise ValueError(
                f"the network output has shape {tuple(out.shape)} for windows of shape {tuple(window_shape)}: "
                "it must keep the batch and spatial sizes, (n, C_out, *roi_size)."
            )
        return out.as_tensor() if isinstance(out, MetaTensor) else out


def _progress(batches: Sequence[int], show: bool, log_interval: float = 30.0):
    """The window batches, with a tqdm bar on a terminal, or a log line every ``log_interval`` s elsewhere (a log
    file gets no use of a bar that redraws itself)."""
    if not show:
        yield from batches
        return
    if _stderr_is_terminal():
        yield from tqdm(batches, desc="windows")
        return
    start = last = time.perf_counter()
    for done, first in enumerate(batches):
        yield first
        now = time.perf_counter()
        if now - last >= log_interval and done + 1 < len(batches):
            last = now
            left = (now - start) / (done + 1) * (len(batches) - done - 1)
            logger.info(f"sliding window: {done + 1}/{len(batches)} window batches, about {left / 60:.1f} min left")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _divide_by_weight_sum(
    output: torch.Tensor,
    grid: WindowGrid,
    image_size: Sequence[int],
    axis_weights: Sequence[np.ndarray],
    num_predictions: int,
) -> None:
    """Divide ``output`` in place by ``num_predictions · Σ w``, the product of per-axis sums of shifted windows."""
    inverse = []
    for starts, before, after, size, w in zip(grid.starts, grid.pad_before, grid.pad_after, image_size, axis_weights):
        padded = np.zeros(before + size + after)
        for s in starts:
            padded[s : s + len(w)] += w
        inverse.append(1.0 / padded[before : before + size])
    inverse[0] = inverse[0] / num_predictions
    # all axes but the last as one small map, the last as a vector: two in-place passes, no image-sized temporary
    leading = np.ones(())
    for values in inverse[:-1]:
        leading = np.multiply.outer(leading, values)
    for factor in (leading[..., None], inverse[-1]):
        # skip a factor only when it is exactly one: a size-1 factor (an axis of size 1, or no leading axes in 1D)
        # still holds 1 / Σw (and 1 / num_predictions) and must be applied
        if not np.all(factor == 1.0):
            output.mul_(torch.as_tensor(factor, dtype=output.dtype, device=output.device))


def _check_padding(mode: str, image_size: Sequence[int], grid: WindowGrid) -> None:
    """torch's reflect padding needs padding < size, circular padding <= size: say so instead of a torch error."""
    limit = {"reflect": 0, "circular": 1}.get(mode)
    if limit is not None and any(
        max(b, a) >= s + limit for b, a, s in zip(grid.pad_before, grid.pad_after, image_size)
    ):
        raise ValueError(
            f"padding_mode={mode!r} cannot pad an image of spatial size {tuple(image_size)} by {grid.pad_before} "
            f"before and {grid.pad_after} after (the padding must be {'<' if limit == 0 else '<='} the size); "
            "use 'replicate' or 'constant'."
        )


def _check_roi_size(roi_size: Sequence[int] | int) -> tuple[int, ...] | int:
    if isinstance(roi_size, (int, np.integer)) and not isinstance(roi_size, bool):
        return int(roi_size)
    if (
        not isinstance(roi_size, Sequence)
        or isinstance(roi_size, str)
        or len(roi_size) == 0
        or any(isinstance(r, bool) or not isinstance(r, (int, np.integer)) for r in roi_size)
    ):
        raise TypeError(f"roi_size must be an int or a non-empty sequence of ints, got {roi_size!r}.")
    return tuple(int(r) for r in roi_size)


def _check_overlap(overlap: Sequence[float] | float, roi_size: tuple[int, ...] | int) -> tuple[float, ...] | float:
    values = tuple(overlap) if isinstance(overlap, Sequence) and not isinstance(overlap, str) else (overlap,)
    if any(isinstance(o, bool) or not isinstance(o, (int, float, np.floating)) for o in values):
        raise TypeError(f"overlap must be a float or a sequence of floats, got {overlap!r}.")
    if any(not 0.0 <= o < 1.0 for o in values):
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}.")
    if not isinstance(overlap, Sequence):
        return float(overlap)
    if isinstance(roi_size, tuple) and len(values) != len(roi_size):
        raise ValueError(f"overlap {overlap!r} must have one value per axis of roi_size {roi_size}.")
    return tuple(float(o) for o in values)


def _check_tta(tta: str | Sequence[Sequence[int]] | None, num_dims: int | None) -> list[tuple[int, ...]] | None:
    """The flips (spatial axes) of the test-time augmentation; None when it depends on the yet unknown dimension."""
    if tta is None or (isinstance(tta, str) and tta.lower() in ("none", "null")):  # "null" from a CLI override
        return [()]
    if isinstance(tta, str):
        if tta.lower() != "rot180":
            raise ValueError(f"tta must be None, 'rot180' or a sequence of flip-axis tuples, got {tta!r}.")
        if num_dims is None:
            return None
        return [(), *itertools.combinations(range(num_dims), 2)]  # 180° in plane (i, j) = flip of axes i and j
    if not isinstance(tta, Sequence) or len(tta) == 0:
        raise ValueError(f"tta must be None, 'rot180' or a non-empty sequence of flip-axis tuples, got {tta!r}.")
    flips = []
    for axes in tta:
        if (
            not isinstance(axes, Sequence)
            or isinstance(axes, str)
            or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 0 for a in axes)
            or len(set(axes)) != len(axes)
        ):
            raise ValueError(f"each tta entry must be a tuple of distinct spatial axes (ints >= 0), got {axes!r}.")
        if num_dims is not None and any(a >= num_dims for a in axes):
            raise ValueError(f"tta flip axes {tuple(axes)} out of range for {num_dims} spatial axes.")
        flips.append(tuple(int(a) for a in axes))
    return flips
