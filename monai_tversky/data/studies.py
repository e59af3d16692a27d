"""``python -m monai_tversky.data.studies``: the MONAI Label studies command, kept under the name the model cards first
documented; it lives in :mod:`monai_tversky.serving.studies` (a serving job, not data)."""

from __future__ import annotations

import sys

from monai_tversky.serving.studies import bundle_input_channels, main, write_monailabel_studies

__all__ = ["bundle_input_channels", "main", "write_monailabel_studies"]

if __name__ == "__main__":
    sys.exit(main())
