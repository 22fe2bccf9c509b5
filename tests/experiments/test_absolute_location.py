"""poslib.experiments.absolute_location: the task, the reach of the border, the circular control and the claims."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from poslib import claims, config
from poslib.experiments import absolute_location as al


def pooled(padding, dilations, images, channels=6):
    """Globally pooled features of an untrained network (seeded, eval mode) on float images (N, 1, H, W)."""
    torch.manual_seed(0)
    net = al.LocationNet(dilations, channels, padding).eval()
    with torch.no_grad():
        return net.features(torch.from_numpy(images)).mean(dim=(-2, -1)).double()


def mirrored_places(distance, canvas=40, height=8, patch=4):
    """The same patch at ``distance`` from the left and from the right border of a flat grey canvas."""
    images = np.full((2, 1, height, canvas), 0.5, np.float32)
    content = np.random.default_rng(3).uniform(0, 1, (patch, patch)).astype(np.float32)
    images[0, 0, 2:2 + patch, distance:distance + patch] = content
    images[1, 0, 2:2 + patch, canvas - patch - distance:canvas - distance] = content
    return images


@pytest.mark.parametrize("padding", ["zeros", "valid", "full"])
def test_the_border_shows_up_to_its_reach_and_not_one_pixel_further(padding):
    dilations = (1, 2, 1)  # receptive field 9 px, reach 7 px
    reach = al.border_reach(dilations)
    gap = {d: float((lambda f: (f[0] - f[1]).abs().max())(pooled(padding, dilations, mirrored_places(d))))
           for d in (reach, reach + 1)}
    assert gap[reach + 1] < 1e-7  # float rounding only: the two places are translations of each other for the net
    assert gap[reach] > 1e-6  # control: one unit sees border and patch (measured: 7e-6 to 2e-4, rounding 4e-9)


def test_circular_padding_pools_a_cyclic_shift_to_the_same_features():
    images = np.random.default_rng(0).uniform(0, 1, (1, 1, 8, 40)).astype(np.float32)
    shifted = np.concatenate([images, np.roll(images, 13, axis=-1)])
    features = {p: pooled(p, (1, 2, 4), shifted) for p in ("circular", "zeros")}
    assert torch.allclose(features["circular"][0], features["circular"][1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(features["zeros"][0], features["zeros"][1], rtol=1e-3, atol=1e-5)  # control


def test_task_is_balanced_mirrored_and_drawn_on_a_grey_noise_texture():
    photos = np.random.default_rng(2).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    images, labels, distance = al.make_location_task([0, 2], 10, np.random.default_rng(1), 20, 8, 4, photos)
    assert images.shape == (20, 1, 8, 20) and labels.mean() == 0.5
    left = images[(labels == 0) & (distance == 2)]
    background = left[:, 0, :, :2]
    assert abs(background.mean() - 0.5) < 0.05 and 0.05 < background.std() < 0.15  # not the padding value 0
    with pytest.raises(ValueError, match="does not fit half"):
        al.make_location_task([8], 2, np.random.default_rng(0), 20, 8, 4)


def test_layer_padding_and_receptive_field():
    assert [al.layer_padding(p, 8) for p in ("zeros", "reflect", "circular", "valid", "full")] == \
        [(1, 8), (1, 8), (1, 8), (0, 0), (2, 16)]
    assert al.receptive_field((1, 2, 4, 8, 16, 1)) == 65 and al.border_reach((1, 2, 4, 8, 16, 1)) == 63
    x = torch.zeros(1, 1, 8, 40)
    widths = {p: al.LocationNet((1, 4), 2, p).features(x).shape[-1] for p in al.LOCATION_PADDINGS}
    assert widths == {"zeros": 40, "reflect": 40, "circular": 40, "valid": 30, "full": 50}


TINY = dict(location_canvas=32, location_height=8, location_patch=4, location_distances=(0, 12),
            location_dilations=((1, 1),), location_channels=8, location_train=96, location_test=500, location_epochs=10)


def test_zero_padding_beats_chance_at_the_border_and_circular_stays_at_chance():
    settings = config.BeyondSettings(seeds=(0,), location_paddings=("zeros", "circular"), **TINY)
    canvases = al.run_location_canvases(settings)
    summary = al.summarise_location(al.accuracy_per_seed(canvases)).set_index(["padding_rule", "distance"])
    assert summary.loc[("zeros", 0), "accuracy"] > 0.75  # positive control: the border is within reach
    assert abs(summary.loc[("zeros", 12), "accuracy"] - 0.5) < 0.1  # 12 px is beyond its reach (3 px)
    assert abs(summary.loc["circular", "accuracy"].mean() - 0.5) < 0.06  # negative control: no border at all
    checks = claims.check_absolute_location(summary.reset_index(), canvases).set_index("claim")
    assert checks.loc[claims.BORDER_CLAIM, "outcome"] == "holds"
    assert checks.loc[claims.NO_BORDER_CLAIM, "outcome"] == "holds"
    assert "bootstrap over 500 images" in checks.loc[claims.BORDER_CLAIM, "rule"]  # intervals over test canvases


def test_trained_networks_are_cached_and_a_warm_run_only_evaluates_them(monkeypatch, private_cache):
    settings = config.BeyondSettings(seeds=(0,), location_paddings=("zeros",), **TINY)
    cold = al.run_location_canvases(settings)
    assert len(list((private_cache / "location_nets" / "zeros").glob("*/weights.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached location network was trained again")

    monkeypatch.setattr(al, "train_location_net", no_training)
    pd.testing.assert_frame_equal(al.run_location_canvases(settings), cold)  # loaded, same answers
    with pytest.raises(AssertionError, match="trained again"):  # other canvases: another entry, trained
        al.run_location_canvases(dataclasses.replace(settings, location_train=64))


def summary_frame(accuracy):
    """A B1 summary with two stacks (reach 15 and 63 px), every padding, 3 seeds; ``accuracy(padding, rf, d)``."""
    rows = []
    for padding in ("zeros", "circular"):
        for stack, field in (("1-2-4-1", 17), ("1-2-4-8-16-1", 65)):
            for distance in (0, 8, 32, 56):
                rows.append({"padding_rule": padding, "dilations": stack, "depth": stack.count("-") + 1,
                             "receptive_field": field, "reach": field - 2, "distance": distance,
                             "distance_rf": distance / field, "accuracy": accuracy(padding, field, distance),
                             "accuracy_std": 0.01, "n_seeds": 3, "chance": 0.5})
    return pd.DataFrame(rows)


def outcomes(checks):
    return checks.groupby("claim")["outcome"].apply(list).to_dict()


def test_claims_hold_when_the_cue_follows_the_reach():
    def expected(padding, field, distance):
        return 0.5 if padding == "circular" or distance > field - 2 else 0.95
    got = outcomes(claims.check_absolute_location(summary_frame(expected)))
    assert got == {claims.BORDER_CLAIM: ["holds"] * 2, claims.REACH_CLAIM: ["holds"] * 2,
                   claims.BLIND_CONTROL: ["holds"], claims.NO_BORDER_CLAIM: ["holds"] * 2}


def test_claims_fail_when_the_cue_stops_short_or_circular_tells_the_sides_apart():
    def short_cue(padding, field, distance):  # the long stack loses the cue at 56 px, and circular is not blind
        return 0.8 if padding == "circular" else (0.95 if distance <= 8 else 0.45 if field == 65 else 0.5)
    got = outcomes(claims.check_absolute_location(summary_frame(short_cue)))
    assert got[claims.BORDER_CLAIM] == ["holds"] * 2
    # below chance at 56 px: the long stack neither beats chance nor the short one (the short one is blind there)
    assert got[claims.REACH_CLAIM] == ["contradicted", "contradicted"] and got[claims.BLIND_CONTROL] == ["holds"]
    assert got[claims.NO_BORDER_CLAIM] == ["contradicted"] * 2


def test_per_canvas_rows_give_the_summary():
    settings = config.BeyondSettings(seeds=(0, 1), location_paddings=("zeros", "valid"),
                                     **{**TINY, "location_dilations": ((1,), (1, 2)), "location_channels": 4,
                                        "location_train": 16, "location_test": 20, "location_epochs": 1})
    summary, canvases = al.location_study(SimpleNamespace(beyond=settings))
    assert list(canvases.columns) == al.CANVAS_COLUMNS
    assert not canvases.duplicated(["padding_rule", "dilations", "seed", "canvas"]).any()
    assert len(canvases) == 2 * 2 * 2 * (2 * 20)  # rules x stacks x seeds x canvases
    assert (canvases["correct"] == (canvases["label"] == canvases["predicted"])).all()
    assert np.allclose(canvases["distance_rf"], canvases["distance"] / canvases["receptive_field"])
    per_seed = canvases.groupby(["padding_rule", "dilations", "distance", "seed"])["correct"].mean().rename("accuracy")
    again = per_seed.groupby(["padding_rule", "dilations", "distance"]).agg(["mean", lambda s: s.std(ddof=1)])
    table = summary.set_index(["padding_rule", "dilations", "distance"]).loc[again.index]
    np.testing.assert_array_equal(again.iloc[:, 0].to_numpy(), table["accuracy"].to_numpy())
    np.testing.assert_allclose(again.iloc[:, 1].to_numpy(), table["accuracy_std"].to_numpy(), rtol=0, atol=1e-12)


def test_location_sentences_count_the_checks():
    def expected(padding, field, distance):
        return 0.5 if padding == "circular" or distance > field - 2 else 0.95
    summary = summary_frame(expected)
    lines = al.location_sentences(summary, 0.2, claims.check_absolute_location(summary))
    assert lines[0].startswith("**zeros**") and "up to 8 px (0.47 receptive field) with dilations 1-2-4-1" in lines[0]
    assert "up to 56 px (0.86 receptive field)" in lines[0]
    assert lines[1].startswith("**circular** (no border)")
    assert f'Check "{claims.REACH_CLAIM}": 2 holds of 2.' in lines and f'Check "{claims.BLIND_CONTROL}": 1 holds of 1.' in lines


def test_dilation_stacks_parse_from_the_command_line():
    hint = config.BeyondSettings.__annotations__["location_dilations"]
    assert config.parse_field_value("beyond.location_dilations", "1:2:4:1,1:2:4:8:16:1", eval(hint, vars(config))) \
        == ((1, 2, 4, 1), (1, 2, 4, 8, 16, 1))
