"""An ONNX model run by ONNX Runtime behind the interface of a PyTorch network, so a bundle's inferer
(``SplineFusionInferer``, ``SlidingWindowInferer``, ``SimpleInferer``) and MONAI's ``SupervisedEvaluator`` can use the
model that ``python -m monai.bundle onnx_export`` wrote in place of ``network_def`` (``configs/inference_onnx.json``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
from monai.data import MetaTensor

from .input_validation import validate_network_input

__all__ = ["OnnxRuntimeNetwork"]


class OnnxRuntimeNetwork(nn.Module):
    """
    An ONNX model (one input, the first output used) run by an ``onnxruntime.InferenceSession``, called like the
    PyTorch network it was exported from: ``net(x)`` takes a torch tensor and returns one, on ``x``'s device.

    It is an ``nn.Module`` without parameters, so the engines' ``network.eval()``, ``.to(device)`` and
    ``state_dict()`` work unchanged; the weights are in the ONNX file, which was exported in eval mode (dropout off,
    batch norm with its running statistics): ``train()`` changes nothing. Each call copies the input to the host
    memory as float32 and the output back to ``x``'s device (no IO binding): with ``CUDAExecutionProvider`` this
    adds two copies per call. ONNX Runtime has no autograd: the output does not require grad.

    The check of :func:`~monai_tversky.networks.input_validation.validate_network_input` runs before the session, as
    in the PyTorch networks: the ONNX graph itself does not keep the checks (an export traces tensor operations
    only), and ONNX Runtime's own errors for a bad size name a node deep in the graph ("Non concat axis dimensions
    must match"). Dimensions and channels come from the model's input (the channel axis is static in the bundles'
    exports), ``size_divisor`` from the caller (the network's total downsampling; the bundles' ``inference_onnx.json``
    derive it from ``network_def``).

    Args:
        path: the ``.onnx`` file (``python -m monai.bundle onnx_export``).
        providers: ONNX Runtime execution providers, in order of preference. Defaults to
            ``["CPUExecutionProvider"]``.
        size_divisor: every spatial size of an input must be a positive multiple of this. Defaults to 1.
        num_threads: ONNX Runtime's ``intra_op_num_threads``; ``None`` (default) leaves its default (all cores).

    Shapes:
        input: ``(B, C, *spatial)`` with ``C`` and the number of spatial dims of the model's input;
        output: the model's first output, e.g. ``(B, out_channels, *spatial)`` logits.

    Raises:
        ImportError: when ``onnxruntime`` is not installed (``pip install onnxruntime``).
        FileNotFoundError: when ``path`` is not a file.
        ValueError: when the model has not exactly one input, or ``size_divisor`` / ``num_threads`` is not a
            positive int; at call time when ``x`` has the wrong number of dimensions or channels, or a spatial size
            that is not a multiple of ``size_divisor``.

    Example::

        >>> net = OnnxRuntimeNetwork("models/model.onnx", size_divisor=16)
        >>> net(torch.rand(2, 4, 64, 64, 64)).shape  # msseg
        torch.Size([2, 1, 64, 64, 64])
    """

    def __init__(
        self,
        path: str | os.PathLike,
        providers: Sequence[str] | None = None,
        size_divisor: int = 1,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError("OnnxRuntimeNetwork needs onnxruntime: pip install onnxruntime") from e
        for name, value in (("size_divisor", size_divisor), ("num_threads", num_threads)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"ONNX model {path!r} not found; export it first: python -m monai.bundle onnx_export network_def "
                f"--filepath {path} ... (see the bundle's docs/README.md, 'Exported models')."
            )
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        self.path = path
        self.providers = list(providers) if providers else ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(path, sess_options=options, providers=self.providers)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"OnnxRuntimeNetwork takes a model with one input, {path!r} has {len(inputs)}.")
        self.input_name = inputs[0].name
        self.output_name = self.session.get_outputs()[0].name
        shape = inputs[0].shape  # ints for static axes, names (str) or None for dynamic ones
        self.spatial_dims = len(shape) - 2
        self.in_channels = shape[1] if isinstance(shape[1], int) else None
        self.size_divisor = size_divisor
        self.network_name = f"OnnxRuntimeNetwork({os.path.basename(path)})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: input batch ``(B, C, *spatial)``; a ``MetaTensor`` is read as a plain tensor.

        Returns:
            the model's first output as a float tensor on ``x``'s device.
        """
        if isinstance(x, MetaTensor):
            x = x.as_tensor()
        in_channels = self.in_channels if self.in_channels is not None else int(x.shape[1]) if x.dim() > 1 else 0
        validate_network_input(x, self.spatial_dims, in_channels, self.size_divisor, self.network_name)
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (output,) = self.session.run([self.output_name], {self.input_name: array})
        return torch.from_numpy(np.ascontiguousarray(output)).to(x.device)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, providers={self.providers}, size_divisor={self.size_divisor}"
