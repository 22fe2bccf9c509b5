"""poslib.experiments.input_contrast and claims.check_contrast: the blend, the fingerprints, a tiny study, the verdicts."""

import numpy as np
import pandas as pd
import pytest

from poslib import claims, config
from poslib.experiments import input_contrast
from poslib.image_set import ImageSet
from poslib.probing import ProbeImages


def photos(n: int, size: int, seed: int, name: str) -> ImageSet:
    pixels = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return ImageSet(name, pixels, [f"{name}-{i}" for i in range(n)], "test", "synthetic")


def test_the_blend_is_exact_on_a_known_pixel():
    pixel = np.array([[[[255, 0, 10]]]], dtype=np.uint8)
    mean = np.array([0.485, 0.456, 0.406]) * 255
    np.testing.assert_allclose(input_contrast.fade(pixel, 0.0)[0, 0, 0], mean, atol=1e-4)
    np.testing.assert_allclose(input_contrast.fade(pixel, 0.225)[0, 0, 0], mean + 0.225 * (np.array([255, 0, 10]) - mean),
                               atol=1e-4)
    images = photos(3, 8, 0, "p")
    zero = input_contrast.faded_set(images, 0.0)
    assert np.allclose(zero.images, mean.astype(np.float32), atol=1e-4)  # the mean colour everywhere
    one = input_contrast.faded_set(images, 1.0)
    assert one.images.dtype == np.uint8 and np.array_equal(one.images, images.images)  # the photo itself
    with pytest.raises(ValueError, match="contrast"):
        input_contrast.fade(pixel, 1.5)


def test_contrast_sets_are_named_and_fingerprinted_per_contrast():
    images = photos(4, 8, 0, "PASCAL-S")
    sets = {a: input_contrast.faded_set(images, a, limit=3) for a in (1.0, 0.5, 0.225, 0.0)}
    assert sets[0.225].name == "PASCAL-S a=0.225" and len(sets[0.5]) == 3 and sets[0.5].ids == images.ids[:3]
    assert len({s.fingerprint for s in sets.values()}) == 4
    assert sets[1.0].fingerprint == input_contrast.faded_set(images, 1.0, limit=3).fingerprint


def test_a_tiny_study_returns_its_tables():
    profile = config.get_profile("smoke", {"input_size": 40, "epochs": 1, "seeds": "0", "contrast.rows": "vgg16:random",
                                           "contrast.contrasts": "1,0.1,0", "contrast.levels": "f4,f5,all",
                                           "contrast.train_images": 6, "contrast.test_images": 4})
    images = ProbeImages(photos(8, 40, 1, "train"), [photos(5, 40, 2, "natural")], False)
    study = input_contrast.contrast_study(profile, images)
    assert {"contrast", "level", "seed", "image", "test_set", "pattern", "spc", "mae"} <= set(study.per_image.columns)
    assert set(study.per_image["test_set"]) == {"natural"} and study.per_image["image"].nunique() == 4
    assert set(study.summary["contrast"]) == {1.0, 0.1, 0.0} and set(study.summary["level"]) == {"f4", "f5", "all"}
    assert list(study.summary.columns) == input_contrast.SUMMARY_COLUMNS
    assert {"backbone", "weights", "backbone_class", "contrast", "level", "share", "content_floor"} <= set(study.shares.columns)
    assert len(study.shares) == 9 and study.shares["share"].between(0, 1).all()
    at_zero = study.shares[study.shares["contrast"] == 0.0]
    assert np.allclose(at_zero["share"], 1.0)  # identical images: a fixed map by construction
    assert {"level", "channel", "share"} <= set(study.channel_shares.columns)
    checks = claims.check_contrast(study.per_image, study.channel_shares, "natural")
    assert len(checks) == 2 and set(checks["backbone_class"]) == {"control"}
    assert checks["outcome"].isin(["holds", "contradicted", "inconclusive"]).all()
    beside = input_contrast.beside_share(study.summary, study.shares, "natural")
    assert len(beside) == 9 and not np.isnan(input_contrast.rank_correlation(beside)["n_cells"])
    assert len(input_contrast.overtake_table(study.summary, "natural")) == 1
    figure = input_contrast.plot_contrast(study.summary, "natural")
    assert len(figure.axes) >= 2


def synthetic_rows(f5_low: float, f5_top: float, n_images: int = 40, seeds=(0, 1, 2)) -> pd.DataFrame:
    """Per-image rows of one ImageNet row: f5's SPC at contrasts 1 and 0.1, with image noise."""
    rng = np.random.default_rng(0)
    rows = []
    for contrast, centre in ((1.0, f5_top), (0.1, f5_low)):
        for seed in seeds:
            for pattern in ("H", "G"):
                spc = centre + rng.normal(0, 0.05, n_images)
                rows.append(pd.DataFrame({"backbone": "vgg16", "weights": "imagenet-caffe", "contrast": contrast,
                                          "level": "f5", "seed": seed, "test_set": "natural", "pattern": pattern,
                                          "image": np.arange(n_images), "spc": spc}))
    return pd.concat(rows, ignore_index=True)


def synthetic_shares(low: float, top: float, n_channels: int = 64) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.concat([pd.DataFrame({"backbone": "vgg16", "weights": "imagenet-caffe", "contrast": contrast,
                                    "level": "f5", "channel": np.arange(n_channels),
                                    "share": np.clip(centre + rng.normal(0, 0.02, n_channels), 0, 1)})
                      for contrast, centre in ((1.0, top), (0.1, low))], ignore_index=True)


def test_check_contrast_holds_only_where_f5_clearly_rises():
    rises = claims.check_contrast(synthetic_rows(0.7, 0.4), synthetic_shares(0.3, 0.1), "natural")
    assert list(rises["outcome"]) == ["holds", "holds"] and set(rises["backbone_class"]) == {"ImageNet"}
    assert "channels" in rises["rule"].iloc[1] and "seed" not in rises["rule"].iloc[1].split(";")[0]
    falls = claims.check_contrast(synthetic_rows(0.3, 0.5), synthetic_shares(0.05, 0.2), "natural")
    assert list(falls["outcome"]) == ["contradicted", "contradicted"]
    flat = claims.check_contrast(synthetic_rows(0.5, 0.5), synthetic_shares(0.1, 0.1), "natural")
    assert set(flat["outcome"]) <= {"inconclusive", "contradicted"}
    assert {"difference", "low", "high", "n_images", "n_seeds", "outcome", "rule"} <= set(flat.columns)
