"""The train / validation / test splits of the real 2D data sets (issue 21), written as datalist JSONs the
focal_tversky bundle reads (``--datalist`` for training: its ``training`` and ``validation`` sections; ``--input``
for evaluation: its ``testing`` section), and the split's case ids, which the model card's figures rest on, to
``bundles/focal_tversky/docs/<name>_split.json`` (no image, only names).

- BUSI (``../shared/data/busi_256``): the images of all three classes are grouped by near-duplicate
  (:func:`monai_tversky.data.near_duplicate_groups`), a quarter of the groups (seed 2018) is the test set, 15 % of the
  other groups validate, the rest trains. Training and validation hold the lesion images (benign, malignant), as
  abraham2018's BUS 2017 set does; the test set's lesion images are ``testing`` (the lesion metrics), its normal
  images ``testing_normal`` (reported apart: the fraction of normal images with any predicted lesion).
- ISIC 2017 Task 1 (``../shared/data/isic2017_256``): the same fractions over the images (75-25 as abraham2018's
  ISIC split, 15 % of the training part validates).

    python benchmarks/real_data_splits.py --work /tmp/real2d      # writes /tmp/real2d/{busi,isic2017}_datalist.json

Running it again gives the same split (the listing is sorted, the split seeded); ``--check`` compares the split
with the committed one and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monai_tversky.data import save_datalist, split_datalist
from monai_tversky.data import BUSI_CLASSES, busi_datalist, isic2017_datalist

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DOCS = REPO / "bundles" / "focal_tversky" / "docs"
SEED = 2018
TEST_FRACTION = 0.25
VAL_FRACTION = 0.15  # of what is not test


def three_way(items: list, seed: int, group_key: str | None) -> dict[str, list]:
    """Test, then validation out of the rest, each a fraction of the groups (``group_key``) or of the items."""
    rest_test = split_datalist(items, TEST_FRACTION, seed, group_key=group_key)
    train_val = split_datalist(rest_test["training"], VAL_FRACTION, seed, group_key=group_key)
    return {"training": train_val["training"], "validation": train_val["validation"], "testing": rest_test["validation"]}


def busi(root: Path) -> dict:
    items = busi_datalist(root, classes=BUSI_CLASSES)
    split = three_way(items, SEED, "group_id")
    lesion = {k: [i for i in v if i["class"] != "normal"] for k, v in split.items()}
    return {
        **lesion,
        "testing_normal": [i for i in split["testing"] if i["class"] == "normal"],
        "modality": {"0": "US"},
        "description": f"BUSI {root}: near-duplicate groups split {TEST_FRACTION:.0%} test, then {VAL_FRACTION:.0%} "
                       f"of the rest validation, seed {SEED}; lesion images train, validate and test, the test "
                       "set's normal images are testing_normal",  # fmt: skip
    }


def isic2017(root: Path) -> dict:
    split = three_way(isic2017_datalist(root), SEED, None)
    return {
        **split,
        "modality": {"0": "R", "1": "G", "2": "B"},
        "description": f"ISIC 2017 Task 1 training set {root}: {TEST_FRACTION:.0%} test, then {VAL_FRACTION:.0%} of "
                       f"the rest validation, seed {SEED}",  # fmt: skip
    }


def case_ids(datalist: dict) -> dict[str, list[str]]:
    return {k: [i["case_id"] for i in v] for k, v in datalist.items() if isinstance(v, list)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="folder for the datalist JSONs")
    ap.add_argument("--busi", default=str(SHARED / "busi_256"))
    ap.add_argument("--isic2017", default=str(SHARED / "isic2017_256"))
    ap.add_argument("--check", action="store_true", help="compare with the committed split instead of writing it")
    args = ap.parse_args()
    work = Path(args.work)
    status = 0
    for name, build, root in (("busi", busi, args.busi), ("isic2017", isic2017, args.isic2017)):
        if not Path(root).is_dir():
            print(f"{name}: {root} not found, skipped")
            continue
        datalist = build(Path(root))
        ids = case_ids(datalist)
        record = DOCS / f"{name}_split.json"
        if args.check:
            same = record.is_file() and json.loads(record.read_text())["case_ids"] == ids
            print(f"{name}: split {'matches' if same else 'DIFFERS from'} {record}")
            status |= 0 if same else 1
            continue
        path = save_datalist(datalist, work / f"{name}_datalist.json", relative=False)
        record.write_text(json.dumps({"description": datalist["description"], "seed": SEED,
                                      "test_fraction": TEST_FRACTION, "val_fraction": VAL_FRACTION,
                                      "case_ids": ids}, indent=1) + "\n")  # fmt: skip
        print(f"{name}: {', '.join(f'{k} {len(v)}' for k, v in ids.items())} -> {path}, {record}")
    return status


if __name__ == "__main__":
    sys.exit(main())
