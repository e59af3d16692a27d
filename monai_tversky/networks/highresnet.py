"""sudre2017's 3D network: MONAI's ``HighResNet`` (Li et al. 2017), sized by its feature counts and taking ``dropout``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets import HighResNet

from .input_validation import validate_network_input

__all__ = ["DropoutHighResNet", "highresnet_layer_params"]


def highresnet_layer_params(
    features: Sequence[int] = (16, 32, 64), repeat: int = 3, head_features: int = 80, out_channels: int | None = None
) -> tuple[dict, ...]:
    """
    MONAI ``HighResNet`` ``layer_params`` for the given widths: a 3x3x3 convolution with ``features[0]`` maps, then
    for each width ``repeat`` residual blocks (dilation 1, 2, 4, ...), a 1x1x1 convolution with ``head_features``
    maps and the 1x1x1 classifier. The defaults are MONAI's ``DEFAULT_LAYER_PARAMS_3D`` (Li et al. 2017, the network
    of sudre2017's 3D experiments): 16, 32, 64 maps, three blocks each, an 80-map head.

    Raises:
        ValueError: when a width or ``repeat`` is not a positive int.
    """
    values = list(features) + [repeat, head_features]
    if not features or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"features, repeat and head_features must be positive ints, got {features!r}, {repeat!r}, "
                         f"{head_features!r}.")
    params: list[dict] = [{"name": "conv_0", "n_features": int(features[0]), "kernel_size": 3}]
    params += [{"name": f"res_{i + 1}", "n_features": int(f), "kernels": (3, 3), "repeat": int(repeat)}
               for i, f in enumerate(features)]
    params += [{"name": "conv_1", "n_features": int(head_features), "kernel_size": 1},
               {"name": "conv_2", "kernel_size": 1}]
    if out_channels is not None:
        params[-1]["n_features"] = int(out_channels)
    return tuple(params)


class DropoutHighResNet(HighResNet):
    """
    MONAI's ``HighResNet`` as sudre2017 train it (3D, white-matter hyperintensities, T1 + T2 + FLAIR), with two
    additions a bundle needs:

    - ``dropout``, the name MONAI's ``BasicUNet`` uses and MONAI Label's epistemic scoring sets
      (``network_def#dropout``), besides MONAI's ``dropout_prob``; dropout acts before the 1x1x1 head.
    - ``features``: the widths of the three residual stages (``layer_params`` built by
      :func:`highresnet_layer_params`), so a config can scale the network by one list.

    Everything else is MONAI's class: the same layers, parameter names and state-dict keys, so a checkpoint of either
    loads into the other. Spatial size is kept (padding "same", no down-sampling): any input size works.

    - sudre2017: Sudre, Li, Vercauteren, Ourselin, Cardoso (2017). *Generalised Dice overlap as a deep learning loss
      function for highly unbalanced segmentations.* DLMIA 2017, arXiv:1707.03237.
    - Li, Wang, Fidon, Ourselin, Cardoso, Vercauteren (2017). *On the compactness, efficiency, and representation of
      3D convolutional networks: brain parcellation as a pretext task.* IPMI 2017.

    Args:
        spatial_dims: 2 or 3. Defaults to 3.
        in_channels: number of input channels (modalities).
        out_channels: number of output channels (classes, background included).
        features: widths of the residual stages; ``None`` takes ``layer_params`` (MONAI's default: 16, 32, 64).
        dropout: dropout probability before the head; when given it replaces ``dropout_prob``. Defaults to ``None``.
        dropout_prob: MONAI's name for it. Defaults to 0.0.
        kwargs: the other arguments of ``monai.networks.nets.HighResNet`` (``norm_type``, ``acti_type``, ``bias``,
            ``layer_params``, ``channel_matching``).

    Shapes:
        input: (B, in_channels, *spatial); output: (B, out_channels, *spatial), logits.

    Raises:
        ValueError: when ``dropout`` is not in [0, 1), or an input has the wrong number of dimensions or channels.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
        features: Sequence[int] | None = None,
        dropout: float | None = None,
        dropout_prob: float | None = 0.0,
        **kwargs,
    ) -> None:
        rate = dropout_prob if dropout is None else dropout
        if rate is not None and not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {rate!r}.")
        if features is not None:
            if "layer_params" in kwargs:
                raise ValueError("give features or layer_params, not both.")
            kwargs["layer_params"] = highresnet_layer_params(features)
        super().__init__(spatial_dims, in_channels, out_channels, dropout_prob=rate, **kwargs)
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        # a str attribute, not type(self).__name__ in forward: TorchScript cannot script type() of a module
        self.network_name: str = type(self).__name__

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: input batch, shape ``(B, in_channels, *spatial)``, any spatial size.

        Returns:
            logits, shape ``(B, out_channels, *spatial)``.

        Raises:
            ValueError: when ``x`` has the wrong number of dimensions or channels; in training mode with batch norm,
                when ``x`` holds one value per channel. The check runs in eager mode and in the scripted model
                (``torch.jit.script``, ``python -m monai.bundle ckpt_export``), where it raises
                ``torch.jit.Error`` with the same message; traced and ONNX exports drop it (see
                :mod:`monai_tversky.networks.input_validation`).
        """
        validate_network_input(x, self.spatial_dims, self.in_channels, 1, self.network_name, self.training)
        # MONAI's HighResNet.forward, written out: TorchScript does not script super().forward
        return torch.as_tensor(self.blocks(x))
