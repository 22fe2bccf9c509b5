"""poslib.experiments.task_baselines: trivial predictions scored as Table 5, and claim 7's use of them."""

import types

import numpy as np
import pandas as pd

from poslib import claims
from poslib.data import PairedSet
from poslib.experiments import task_baselines as tb
from poslib.segnet import VGG_SMALL_CONVS
from poslib.task_data import TaskData


def fake_models(*rules):
    trained = types.SimpleNamespace(config=types.SimpleNamespace(convs=VGG_SMALL_CONVS))
    return {rule: [trained] for rule in rules}


def saliency_data(n=4, size=128):
    rng = np.random.default_rng(0)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1  # centred objects: the centre prior knows them
    images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    train = PairedSet("train", images, masks, [f"t{i}" for i in range(n)], "test", "embedded")
    test = PairedSet("test", images, masks, [f"s{i}" for i in range(n)], "test", "embedded")
    return TaskData("saliency", train, [test], ("salient",), 255, True)


def test_baselines_are_scored_on_both_regions_and_the_priors_beat_all_salient_on_centred_objects():
    frame = tb.saliency_baselines(fake_models("zeros", "valid"), saliency_data())
    assert set(frame["baseline"]) == set(tb.SALIENCY_BASELINES) and set(frame["scored_on"]) == {"shared region",
                                                                                                 "full frame"}
    full = frame[frame["scored_on"] == "full frame"].set_index("baseline")
    # the mean training mask is the masks themselves here: a perfect prior (positive control)
    assert full.loc["mean training mask", "raw_max_f"] > 0.99
    assert full.loc["centre prior", "raw_max_f"] > full.loc["all salient", "raw_max_f"]  # the prior carries position
    share = 0.25  # a quarter of the frame is salient: all-salient's F is (1.3 p) / (0.3 p + 1)
    assert abs(full.loc["all salient", "raw_max_f"] - 1.3 * share / (0.3 * share + 1)) < 0.02


def test_segmentation_baselines_know_the_majority_and_the_per_pixel_mode():
    data = saliency_data()
    labels = data.train.targets.copy()
    seg = TaskData("segmentation", PairedSet("train", data.train.images, labels, data.train.ids, "t", "embedded"),
                   [PairedSet("test", data.train.images, labels, data.train.ids, "t", "embedded")], ("bg", "fg"), 255,
                   True)
    frame = tb.segmentation_baselines(fake_models("zeros", "valid"), seg)
    full = frame[(frame["scored_on"] == "full frame")].set_index(["baseline", "metric"])["value"]
    assert full[("per-pixel training mode", "miou")] == 1.0  # every scene has the same layout here
    assert abs(full[("majority class", "pixel_accuracy")] - 0.75) < 1e-9


def test_claim_7_is_inconclusive_when_the_padded_model_is_too_weak_and_unchanged_otherwise():
    per_image = pd.DataFrame([{"padding_rule": rule, "test_set": "T", "seed": seed, "image": image,
                               "max_f": value + 0.01 * image, "mae": 1 - value}
                              for rule, value in (("zeros", 0.8), ("valid", 0.5)) for seed in (0, 1)
                              for image in range(20)])
    segmentation = pd.DataFrame(columns=["padding_rule", "test_set", "metric", "value"])
    strong = pd.DataFrame({"padding_rule": ["zeros"], "test_set": ["T"], "margin": [0.3], "best_baseline": ["x"],
                           "beats_by": [True]})
    [row] = claims.check_claim_7(per_image, segmentation, margins=strong).to_dict("records")
    assert row["outcome"] == "holds"
    weak = strong.assign(margin=0.02, beats_by=False)
    [row] = claims.check_claim_7(per_image, segmentation, margins=weak).to_dict("records")
    assert row["outcome"] == "inconclusive" and "measured outcome: holds" in row["rule"] and "+0.020" in row["rule"]
