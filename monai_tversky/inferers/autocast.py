"""Mixed precision and memory layout around any inferer: bf16 autocast and channels-last, for CPU training steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from monai.inferers import Inferer, SimpleInferer

__all__ = ["AutocastInferer", "cpu_supports_bf16"]

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def cpu_supports_bf16() -> bool:
    """
    Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX, through oneDNN): where it does not, bf16
    autocast is emulated and slower than float32, so the bundles' ``cpu_bf16`` defaults to this.
    """
    try:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return bool(native and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes
        return False


def _memory_format(ndim: int) -> torch.memory_format | None:
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(ndim)


def _cast(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors of ``value`` (a tensor, or lists / tuples / dicts of them: deep supervision) cast to ``dtype``."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() and value.dtype != dtype else value
    if isinstance(value, Mapping):
        return type(value)({k: _cast(v, dtype) for k, v in value.items()})
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return type(value)(_cast(v, dtype) for v in value)
    return value


class AutocastInferer(Inferer):
    """
    Runs another inferer under ``torch.autocast`` and, optionally, in the channels-last memory layout, and gives its
    outputs back in float32, so that a loss, a metric or a fusion downstream computes in full precision.

    MONAI's :py:class:`monai.engines.SupervisedTrainer` calls ``inferer(inputs, network)`` for the forward pass of
    every training step, so this inferer, given as the trainer's ``inferer``, makes the step a mixed-precision one
    (the backward pass follows the forward's precision) without changing the network, its checkpoints or the loss.
    MONAI's own ``amp=True`` is the CUDA counterpart (float16 with a gradient scaler); on a CPU with native bf16
    (AVX512-BF16 or AMX, see :func:`cpu_supports_bf16`) bf16 autocast needs no scaler: bf16 has float32's range.

    Channels-last (``torch.channels_last`` for 4D inputs, ``channels_last_3d`` for 5D) is the layout oneDNN's
    convolutions prefer on a CPU; the network's parameters are converted once, at the first call (the optimiser
    keeps the same parameter objects), and each input batch at every call.

    Args:
        inferer: the inferer to run (``network(inputs)`` when ``None``: :py:class:`monai.inferers.SimpleInferer`).
        enabled: use autocast; ``False`` runs the inferer as it is (with ``channels_last`` still applied).
            Defaults to ``True``.
        dtype: the lower precision, ``torch.bfloat16`` (or ``"bfloat16"``) or ``torch.float16``. Defaults to bf16.
        device_type: autocast's device type, ``"cpu"`` or ``"cuda"``. Defaults to ``"cpu"``.
        channels_last: run the network and its inputs in the channels-last layout. Defaults to ``False``.
        output_dtype: the dtype floating outputs are cast to. Defaults to ``torch.float32``.

    Raises:
        TypeError: when ``inferer`` is not an :py:class:`monai.inferers.Inferer` or callable.
        ValueError: when ``dtype`` or ``device_type`` is not supported.
    """

    def __init__(
        self,
        inferer: Inferer | None = None,
        enabled: bool = True,
        dtype: torch.dtype | str = torch.bfloat16,
        device_type: str = "cpu",
        channels_last: bool = False,
        output_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if inferer is not None and not callable(inferer):
            raise TypeError(f"inferer must be an Inferer (a callable) or None but is {type(inferer).__name__}.")
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"dtype must be one of {sorted(_DTYPES)} or a torch dtype, got {dtype!r}.")
            dtype = _DTYPES[dtype]
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"dtype must be torch.bfloat16 or torch.float16, got {dtype}.")
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"device_type must be 'cpu' or 'cuda', got {device_type!r}.")
        for name, flag in (("enabled", enabled), ("channels_last", channels_last)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False but is {flag!r}.")
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.enabled, self.dtype, self.device_type = enabled, dtype, device_type
        self.channels_last, self.output_dtype = channels_last, output_dtype
        self._converted: set[int] = set()

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> Any:
        """
        Args:
            inputs: the batch, ``(B, C, *spatial)``.
            network: the model (or callable) the wrapped inferer runs.
            args, kwargs: passed on to the wrapped inferer.

        Returns:
            what the wrapped inferer returns, floating tensors in ``output_dtype``.
        """
        if self.channels_last:
            layout = _memory_format(inputs.ndim)
            if layout is not None:
                if isinstance(network, torch.nn.Module) and id(network) not in self._converted:
                    network.to(memory_format=layout)
                    self._converted.add(id(network))
                inputs = inputs.contiguous(memory_format=layout)
        with torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled):
            outputs = self.inferer(inputs, network, *args, **kwargs)
        return _cast(outputs, self.output_dtype)
