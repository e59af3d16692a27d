"""Report writer: per-case CSV, summary, pooled PR-curve PNG and TP/FN/FP overlay PNGs."""

from __future__ import annotations

import csv
import math
import struct

import numpy as np
import pytest
from matplotlib.image import imread
from scipy import ndimage
from sklearn.metrics import average_precision_score

from monai_tversky.metrics import (
    LESION_METRIC_KEYS,
    OVERLAY_COLORS,
    LesionReport,
    PrecisionRecallHistogram,
    lesion_metrics,
    lesion_overlay_rgb,
    save_lesion_overlay,
    save_precision_recall_plot,
    select_lesion_slices,
    summarize_lesion_metrics,
)

GREEN, BLUE, RED = OVERLAY_COLORS["true positive"], OVERLAY_COLORS["false negative"], OVERLAY_COLORS["false positive"]


def _png_size(path) -> tuple[int, int]:
    """(width, height) read from the PNG header, independently of matplotlib."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _assert_overlay_size(path, width, height) -> None:
    """The overlay image is ``width`` x ``height`` pixels, with the legend in a strip below it (never on it)."""
    png_width, png_height = _png_size(path)
    assert png_width >= width and png_height > height  # wider only when the legend is wider than the image


def _cases(n=3, shape=(16, 14, 10)):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        label = ndimage.binary_dilation(rng.random(shape) < 0.004, iterations=1)
        prob = np.clip(0.5 * label + 0.55 * rng.random(shape), 0, 1).astype(np.float32)
        prob = ndimage.gaussian_filter(prob, 0.5)
        image = rng.normal(100, 10, shape) + 50 * label
        out.append((f"case{i}", prob >= 0.5, label, prob, image))
    return out


def test_overlay_rgb_colours_and_blending():
    label = np.zeros((4, 5), dtype=bool)
    pred = np.zeros_like(label)
    label[1, 1] = label[1, 2] = True
    pred[1, 2] = pred[3, 4] = True
    rgb = lesion_overlay_rgb(pred, label, alpha=1.0)
    assert tuple(rgb[1, 2]) == GREEN  # TP
    assert tuple(rgb[1, 1]) == BLUE  # FN
    assert tuple(rgb[3, 4]) == RED  # FP
    assert (rgb[0, 0] == 0).all()  # no image: black background
    image = np.arange(20, dtype=float).reshape(4, 5)
    rgb = lesion_overlay_rgb(pred, label, image=image, alpha=0.5, window=(0, 100))
    gray = image / 19.0
    np.testing.assert_allclose(rgb[0, 0], [gray[0, 0]] * 3)
    np.testing.assert_allclose(rgb[1, 2], 0.5 * gray[1, 2] + 0.5 * np.array(GREEN))
    np.testing.assert_allclose(rgb[3, 4], 0.5 * gray[3, 4] + 0.5 * np.array(RED))


def test_overlay_png_has_the_expected_size_and_shows_each_voxel_in_its_colour(tmp_path):
    label = np.zeros((20, 30), dtype=bool)
    pred = np.zeros_like(label)
    label[8:12, 10:14] = True  # TP where pred overlaps, FN elsewhere
    pred[8:12, 12:16] = True  # FP at columns 14-15
    path = save_lesion_overlay(tmp_path / "o.png", pred, label, alpha=1.0, scale=5, title="")
    assert _png_size(path)[0] == 30 * 5 and _png_size(path)[1] > 20 * 5  # the legend strip is below the image
    png = imread(path)[..., :3]
    # the image fills the top 100 x 150 pixels, every voxel a 5 x 5 block of its colour: the legend covers none
    blocks = np.repeat(np.repeat(lesion_overlay_rgb(pred, label, alpha=1.0), 5, axis=0), 5, axis=1)
    np.testing.assert_array_equal(png[: 20 * 5], blocks)

    def colour(r, c):  # centre of voxel (r, c)
        return tuple(np.round(png[r * 5 + 2, c * 5 + 2], 2))

    assert colour(9, 12) == GREEN and colour(9, 10) == BLUE and colour(9, 15) == RED
    assert colour(10, 5) == (0.0, 0.0, 0.0)
    # anisotropic voxels (rows 2 mm, columns 1 mm) keep their proportions
    path = save_lesion_overlay(tmp_path / "a.png", pred, label, pixel_size=(2.0, 1.0), scale=3)
    _assert_overlay_size(path, 30 * 3, 20 * 3 * 2)


def test_overlay_of_a_3d_case_picks_the_busiest_slice(tmp_path):
    label = np.zeros((6, 7, 8), dtype=bool)
    pred = np.zeros_like(label)
    label[2:4, 2:4, 5] = True
    label[1, 1, 2] = True
    pred[2:5, 2:4, 5] = True
    assert select_lesion_slices(pred, label, axis=-1, num_slices=2) == [5, 2]
    assert select_lesion_slices(pred, label, axis=0) == [2]
    path = save_lesion_overlay(tmp_path / "s.png", pred, label, image=np.random.rand(6, 7, 8), scale=4, rot90=1)
    _assert_overlay_size(path, 6 * 4, 7 * 4)  # one quarter turn swaps rows and columns
    with pytest.raises(ValueError, match="out of range"):
        save_lesion_overlay(tmp_path / "x.png", pred, label, slice_index=8)


def test_precision_recall_plot_of_several_runs(tmp_path):
    cases = _cases()
    runs = {}
    for name, shift in (("Dice", 0.0), ("Tversky 0.3/0.7", 0.1)):
        hist = PrecisionRecallHistogram(100)
        for _, _, label, prob, _ in cases:
            hist.update(np.clip(prob + shift * label, 0, 1), label)
        runs[name] = hist
    path = save_precision_recall_plot(tmp_path / "pr.png", runs, figsize=(4.0, 3.0), dpi=80)
    assert _png_size(path) == (320, 240)
    png = imread(path)[..., :3]
    assert png.std() > 0.05  # not a blank image
    with pytest.raises(ValueError, match="not finite"):
        empty = PrecisionRecallHistogram(10)
        empty.update(np.zeros((3, 3)), np.zeros((3, 3)))
        save_precision_recall_plot(tmp_path / "bad.png", {"no lesions": empty})


def test_summary_statistics_skip_nan_and_count_inf():
    rows = [{"dsc": 0.5, "sd": 1.0}, {"dsc": 0.7, "sd": float("inf")}, {"dsc": float("nan"), "sd": 3.0}]
    s = summarize_lesion_metrics(rows, keys=["dsc", "sd"])
    assert s["dsc"]["mean"] == pytest.approx(0.6) and s["dsc"]["sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert (s["dsc"]["n"], s["dsc"]["n_nan"], s["dsc"]["n_inf"]) == (2, 1, 0)
    assert s["sd"]["mean"] == pytest.approx(2.0) and (s["sd"]["n"], s["sd"]["n_inf"]) == (2, 1)
    assert math.isnan(summarize_lesion_metrics([{"dsc": 0.5}], keys=["dsc"])["dsc"]["sd"])
    with pytest.raises(ValueError, match="'sd'"):
        summarize_lesion_metrics([{"dsc": 0.5}], keys=["dsc", "sd"])


def test_report_writes_csv_summary_pr_curve_and_overlays(tmp_path):
    cases = _cases()
    report = LesionReport(tmp_path / "run", num_bins=100, run_name="test run")
    for name, pred, label, prob, image in cases:
        report.add_case(name, pred, label, prob=prob, image=image, spacing=(1.0, 1.0, 2.0),
                        overlay_slices="auto" if name == "case0" else [1, 3])
    paths = report.write()
    assert set(paths) == {"metrics_csv", "summary_csv", "pr_histogram_csv", "pr_curve_png"}

    with open(paths["metrics_csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["case"] for r in rows] == ["case0", "case1", "case2"]
    for row, (_, pred, label, prob, _) in zip(rows, cases):
        expected = lesion_metrics(pred, label, prob, spacing=(1.0, 1.0, 2.0))
        assert {k: float(row[k]) for k in LESION_METRIC_KEYS} == pytest.approx(expected, nan_ok=True)

    with open(paths["summary_csv"], newline="", encoding="utf-8") as f:
        summary = {r["metric"]: r for r in csv.DictReader(f)}
    assert list(summary) == [*LESION_METRIC_KEYS, "apr_pooled"]
    dscs = [float(r["dsc"]) for r in rows]
    assert float(summary["dsc"]["mean"]) == pytest.approx(np.mean(dscs))
    assert float(summary["dsc"]["sd"]) == pytest.approx(np.std(dscs, ddof=1))
    assert summary["dsc"]["mean ± sd"] == f"{np.mean(dscs):.4f} ± {np.std(dscs, ddof=1):.4f}"
    labels = np.concatenate([c[2].ravel() for c in cases])
    binned = np.concatenate([np.minimum(np.floor(c[3].astype(np.float64).ravel() * 100), 99) for c in cases])
    assert float(summary["apr_pooled"]["mean"]) == pytest.approx(average_precision_score(labels, binned), rel=1e-9)
    # the saved histogram reloads into the same pooled curve (runs evaluated apart can share one plot)
    reloaded = PrecisionRecallHistogram.load_csv(paths["pr_histogram_csv"])
    assert reloaded.num_bins == 100
    assert reloaded.average_precision() == pytest.approx(average_precision_score(labels, binned), rel=1e-9)
    np.testing.assert_array_equal(reloaded.total_counts, np.bincount(binned.astype(int), minlength=100))

    assert _png_size(paths["pr_curve_png"]) == (500, 500)
    overlays = sorted(p.name for p in (tmp_path / "run" / "overlays").iterdir())
    busiest = select_lesion_slices(cases[0][1], cases[0][2])[0]
    assert overlays == sorted([f"case0_axis2_slice{busiest}.png", "case1_axis2_slice1.png", "case1_axis2_slice3.png",
                               "case2_axis2_slice1.png", "case2_axis2_slice3.png"])
    _assert_overlay_size(tmp_path / "run" / "overlays" / "case1_axis2_slice1.png", 14 * 4, 16 * 4)


def test_report_without_probabilities_and_bad_use(tmp_path):
    report = LesionReport(tmp_path / "r")
    with pytest.raises(ValueError, match="no case"):
        report.write()
    _, pred, label, _, _ = _cases(1)[0]
    report.add_case("a", pred, label)
    paths = report.write()
    assert "pr_curve_png" not in paths and "pr_histogram_csv" not in paths
    with pytest.raises(ValueError, match="already added"):
        report.add_case("a", pred, label)
    with pytest.raises(ValueError, match="overlay_slices"):
        report.add_case("b", pred, label, overlay_slices="middle")
    assert [row["case"] for row in report.rows] == ["a"]  # a rejected case leaves no row behind


def test_pr_histogram_csv_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.csv"
    with pytest.raises(ValueError, match="not found: .*none.csv"):
        PrecisionRecallHistogram.load_csv(missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv is not a precision-recall histogram"):
        PrecisionRecallHistogram.load_csv(bad)
    inconsistent = tmp_path / "inconsistent.csv"
    inconsistent.write_text("bin_low,bin_high,lesion_voxels,voxels\n0,0.5,3,2\n0.5,1,0,0\n")
    with pytest.raises(ValueError, match="inconsistent.csv: counts must satisfy"):
        PrecisionRecallHistogram.load_csv(inconsistent)
