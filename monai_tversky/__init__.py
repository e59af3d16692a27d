"""monai-tversky: MONAI components and bundles for small-lesion segmentation in highly unbalanced images.

Implements, as native MONAI components, the methods of four papers (cited by key throughout):

- salehi2017: Tversky loss and a 3D U-Net (arXiv:1706.05721)
- abraham2018: focal Tversky loss and an attention U-Net with input pyramid and deep supervision (arXiv:1810.07842)
- hashemi2018: F-beta loss, a 3D patch-wise DenseNet and B-spline patch fusion (arXiv:1803.11078)
- sudre2017: generalised Dice loss and its companions (arXiv:1707.03237)

Importing this package (``"imports": ["$import monai_tversky"]`` in a bundle config) makes every public class
resolvable by its short name through MONAI's ``ComponentLocator``, which scans loaded modules whose name starts
with ``"monai"``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import data, engines, inferers, losses, metrics, networks, transforms  # noqa: F401  (registers components)

__all__ = ["data", "engines", "inferers", "losses", "metrics", "networks", "transforms", "__version__"]
