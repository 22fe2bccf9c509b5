"""poslib.experiments.absolute_location: the task, the invariance of full convolution, and the controls."""

import numpy as np
import torch

from poslib import claims, config
from poslib.experiments import absolute_location as al


def test_full_convolution_pools_a_moved_patch_to_the_same_features():
    torch.manual_seed(0)
    x = torch.zeros(2, 1, 12, 32)
    patch = torch.rand(6, 6)
    x[0, 0, 3:9, 0:6], x[1, 0, 3:9, 26:32] = patch, patch  # touching the left / the right border
    pooled = {p: al.LocationNet(3, 8, p).eval().features(x).mean(dim=(-2, -1)) for p in al.LOCATION_PADDINGS}
    assert torch.allclose(pooled["full"][0], pooled["full"][1], rtol=1e-4, atol=1e-9)
    assert not torch.allclose(pooled["zeros"][0], pooled["zeros"][1], rtol=1e-2, atol=1e-9)  # control: the border shows


def test_zero_padding_beats_chance_near_the_border_and_full_stays_at_chance():
    settings = config.BeyondSettings(seeds=(0,), location_canvas=24, location_height=10, location_patch=4,
                                     location_distances=(0, 6), location_depths=(2,), location_channels=8,
                                     location_train=64, location_test=100, location_epochs=15)
    summary = al.summarise_location(al.run_location_study(settings)).set_index(["padding_rule", "distance"])
    assert summary.loc[("zeros", 0), "accuracy"] > 0.75
    assert summary.loc[("valid", 0), "accuracy"] > 0.75
    assert abs(summary.loc["full", "accuracy"].mean() - 0.5) < 0.1
    assert summary.loc[("zeros", 6), "accuracy"] < 0.65  # beyond the receptive field the cue is gone
    checks = claims.check_absolute_location(summary.reset_index())
    # one seed: no spread over training runs, so no verdict; the differences still point the claimed way
    assert (checks["outcome"] == "inconclusive").all() and checks["rule"].str.contains("1 seed").all()
    full = checks["claim"].str.contains("full convolution")
    assert (checks.loc[~full, "difference"] > 0).all() and (checks.loc[full, "difference"].abs() < claims.CHANCE_MARGIN).all()


def test_task_is_balanced_and_mirrored():
    images, labels, distance = al.make_location_task(20, 4, [0, 2], 10, np.random.default_rng(1), height=8)
    assert images.shape == (20, 1, 8, 20) and labels.mean() == 0.5
    left = images[(labels == 0) & (distance == 2)]
    assert left[:, 0, :, 2:6].any(axis=(1, 2)).all() and not left[:, 0, :, :2].any()


def test_stacked_receptive_field_keeps_its_former_name():
    assert al.stacked_receptive_field(2, kernel=5) == 9
    assert al.receptive_field is al.stacked_receptive_field  # notebook 06 calls it by that name


def test_describe_reach_names_the_farthest_distance_above_chance():
    import pandas as pd

    summary = pd.DataFrame({"padding_rule": ["zeros"] * 3 + ["full"], "depth": [2] * 4, "distance": [0, 4, 8, 0],
                            "accuracy": [0.9, 0.7, 0.52, 0.5]})
    text = al.describe_reach(summary, 0.1)
    assert "zeros, depth 2" in text and ": 4 px" in text and "full" not in text
    assert al.describe_reach(summary.assign(accuracy=0.5), 0.1).endswith("none.")


def test_per_canvas_rows_give_the_summary():
    from types import SimpleNamespace

    settings = config.BeyondSettings(seeds=(0, 1), location_canvas=24, location_height=10, location_patch=4,
                                     location_distances=(0, 6), location_depths=(1, 2), location_channels=4,
                                     location_train=32, location_test=20, location_epochs=2)
    summary, canvases = al.location_study(SimpleNamespace(beyond=settings))
    assert list(canvases.columns) == al.CANVAS_COLUMNS
    keys = ["padding_rule", "depth", "seed", "canvas"]
    assert not canvases.duplicated(keys).any()  # one row per network (padding, depth, seed) and test canvas
    assert len(canvases) == len(settings.location_paddings) * 2 * 2 * (2 * 20)  # rules x depths x seeds x canvases
    assert (canvases["correct"] == (canvases["label"] == canvases["predicted"])).all()
    # mean correct per network and distance, then mean and std over seeds, is the published table
    per_seed = canvases.groupby(["padding_rule", "depth", "distance", "seed"])["correct"].mean().rename("accuracy")
    again = per_seed.groupby(["padding_rule", "depth", "distance"]).agg(["mean", lambda s: s.std(ddof=1)])
    table = summary.set_index(["padding_rule", "depth", "distance"]).loc[again.index]
    np.testing.assert_array_equal(again.iloc[:, 0].to_numpy(), table["accuracy"].to_numpy())
    np.testing.assert_allclose(again.iloc[:, 1].to_numpy(), table["accuracy_std"].to_numpy(), rtol=0, atol=1e-12)
    assert summary.equals(al.summarise_location(al.run_location_study(settings)))  # the same numbers as before
