"""Networks of the papers: hashemi2018's 3D patch-wise DenseNet, abraham2018's attention U-Net with input pyramid and
sudre2017's HighResNet (MONAI's, taking ``dropout`` and ``features``); ``OnnxRuntimeNetwork`` runs a bundle's ONNX export
in their place (``configs/inference_onnx.json``), and ``monai_tversky.networks.export_check`` checks the exports.

The salehi2017 3D U-Net is MONAI's ``BasicUNet`` configured to match (see ``tests/test_networks_unet3d.py``)::

    BasicUNet(spatial_dims=3, in_channels=3, out_channels=2, features=(f, 2f, 4f, 8f, 16f, f), act="relu", norm=None)
"""

from __future__ import annotations

from .attention_unet import (
    ABRAHAM2018_NETWORKS,
    AttentionPyramidUNet,
    GatedDecoderLevel,
    PyramidEncoderLevel,
    attention_unet_variant,
    final_output,
)
from .highresnet import DropoutHighResNet, highresnet_layer_params
from .input_validation import validate_network_input
from .onnx_runtime import OnnxRuntimeNetwork
from .patch_densenet import DenseBottleneckLayer, PatchDenseLevel, PatchDenseNet3D

__all__ = [
    "ABRAHAM2018_NETWORKS",
    "AttentionPyramidUNet",
    "DenseBottleneckLayer",
    "DropoutHighResNet",
    "GatedDecoderLevel",
    "OnnxRuntimeNetwork",
    "PatchDenseLevel",
    "PatchDenseNet3D",
    "PyramidEncoderLevel",
    "attention_unet_variant",
    "final_output",
    "highresnet_layer_params",
    "validate_network_input",
]
