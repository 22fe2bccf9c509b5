"""poslib.experiments.padding_parity: uneven layers, asymmetry with symmetrised filters, and the contrast."""

import numpy as np
import pytest
import torch
from torch import nn

from poslib.backbones import TappedBackbone
from poslib.experiments import padding_parity as pp


def strided_net(pad) -> TappedBackbone:
    torch.manual_seed(0)
    net = nn.Sequential(nn.ZeroPad2d(pad), nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    return TappedBackbone("toy", "t", ["f1"], [4], lambda x: [net(x)], net)


def test_one_sided_padding_skews_a_symmetric_network_and_even_padding_does_not():
    even = pp.symmetrise_filters(strided_net((1, 1, 1, 1)))
    uneven = pp.symmetrise_filters(strided_net((0, 1, 0, 1)))
    assert pp.uneven_layers(even, 17) == 0 and pp.uneven_layers(uneven, 16) == 1
    rows_even, _ = pp.uniform_asymmetry(even, 17, [0.5])
    rows_uneven, maps = pp.uniform_asymmetry(uneven, 16, [0.5])
    assert rows_even[0]["lr_asymmetry"] < 1e-6 and rows_even[0]["tb_asymmetry"] < 1e-6
    assert rows_uneven[0]["lr_asymmetry"] > 1e-3 and rows_uneven[0]["tb_asymmetry"] > 1e-3
    assert maps["f1"].shape == (8, 8)


def test_trained_filters_are_asymmetric_even_with_even_padding():
    # why the symmetrised view exists: raw random filters differ left and right on a uniform input
    rows, _ = pp.uniform_asymmetry(strided_net((1, 1, 1, 1)), 17, [0.5])
    assert rows[0]["lr_asymmetry"] > 0.01


def test_vgg_pooling_counts_odd_sizes_as_uneven():
    from poslib.backbones import build_backbone

    vgg = build_backbone("vgg16", "random", 0, 64)
    assert pp.uneven_layers(vgg, 64) == 0 and pp.uneven_layers(vgg, 65) > 0


def test_partial_rule_view_sets_studies_2_and_3_side_by_side():
    import pandas as pd

    gap = pd.DataFrame({"tap": ["all", "all", "f1"], "channels": ["all"] * 3, "padding_rule": ["zeros", "partial", "zeros"],
                        "backbone": ["b"] * 3, "weights": ["w"] * 3, "accuracy": [0.9, 0.8, 0.1]})
    asymmetry = pd.DataFrame({"tap": ["f4"] * 2, "measure": ["lr"] * 2, "padding_rule": ["zeros", "partial"],
                              "backbone": ["b"] * 2, "weights": ["w"] * 2, "filters": ["as trained"] * 2,
                              "kind": ["natural photos"] * 2, "input_size": [33] * 2, "value": [0.2, 0.3]})
    view = pp.partial_rule_view(gap, asymmetry, "f4")
    assert set(view.columns) == {"partial", "zeros"}
    assert view.loc[("2: position accuracy after pooling", "b", "w"), "zeros"] == 0.9
    assert view.loc[("3: lr asymmetry of f4, natural photos, as trained filters, 33 px", "b", "w"), "partial"] == 0.3


# ------------------------------------------------------------------ as-trained asymmetry on natural photos
def pair_maps(backbone, photos: torch.Tensor) -> np.ndarray:
    """Per photo, the mean of the tap on the photo and on its mirror image (what natural_asymmetry averages)."""
    with torch.inference_mode():
        return ((backbone(photos)[0] + backbone(photos.flip(-1))[0]) / 2).numpy()


def photos(n=12, size=17):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_a_mirror_equivariant_network_has_no_asymmetry_on_photo_pairs_and_an_uneven_one_has():
    weights = pp.resample_weights(12, 200)
    even = pp.symmetrise_filters(strided_net((1, 1, 1, 1)))
    estimate, values = pp.asymmetry_resamples(pair_maps(even, photos(size=17)), weights)
    assert estimate < 1e-5 and values.max() < 1e-5  # the negative control: exactly symmetric up to rounding
    uneven = pp.symmetrise_filters(strided_net((0, 1, 0, 1)))
    estimate, values = pp.asymmetry_resamples(pair_maps(uneven, photos(size=16)), weights)
    assert estimate > 1e-2 and np.quantile(values, 0.025) > 1e-2  # the positive control


def test_single_photos_without_their_mirrors_are_not_symmetric():
    # why the mirror images are needed: the photos' own content is not symmetric
    even = pp.symmetrise_filters(strided_net((1, 1, 1, 1)))
    with torch.inference_mode():
        maps = even(photos(size=17))[0].numpy()
    assert pp.mean_map_asymmetry(maps.mean(0)) > 1e-2


def test_resample_weights_are_reproducible_and_sum_to_one():
    a, b = pp.resample_weights(7, 50), pp.resample_weights(7, 50)
    assert np.array_equal(a, b) and np.allclose(a.sum(1), 1.0)
    assert not np.array_equal(a, pp.resample_weights(7, 50, random_state=1))


def test_mirrored_set_is_its_own_inverse():
    from poslib.image_set import ImageSet

    pixels = np.random.default_rng(0).integers(0, 255, (2, 5, 5, 3), dtype=np.uint8)
    original = ImageSet("p", pixels, ["a", "b"], "test", "synthetic")
    twice = pp.mirrored_set(pp.mirrored_set(original))
    assert np.array_equal(twice.images, pixels) and pp.mirrored_set(original).fingerprint != original.fingerprint


def test_parity_configurations_cover_rules_contrast_and_control_rows():
    from poslib.config import get_profile

    settings = get_profile("default").beyond
    configs = pp.parity_configurations(settings)
    assert ("efficientnet-lite0", "random", "zeros", 224) in configs
    assert ("vgg16", "imagenet-caffe", "zeros", 225) in configs
    assert {r for b, w, r, s in configs if w == "imagenet" and b == "efficientnet-lite0"} == set(settings.parity_rules)
    assert pp.reference_size(settings.parity_sizes) == 224 and pp.reference_size((64, 65)) == 64


def natural_table(rows):
    """A NaturalAsymmetry-like table and paired resamples: rows of (weights, size, uneven, asymmetry, spread)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    noise = rng.normal(size=400)  # the same draws for every configuration: a paired bootstrap
    table, resamples = [], {}
    for weights, size, uneven, value, spread in rows:
        table.append({"backbone": "net", "weights": weights, "backbone_class": "ImageNet" if weights == "imagenet"
                      else "control", "padding_rule": "zeros", "input_size": size, "uneven_layers": uneven, "tap": "f4",
                      "lr_asymmetry": value, "low": value - 2 * spread, "high": value + 2 * spread, "n_images": 30})
        resamples[("net", weights, "zeros", size, "f4")] = value + spread * noise * (1 if size == 224 else -1)
    return pd.DataFrame(table), resamples


def test_check_padding_parity_can_hold_be_contradicted_and_stay_inconclusive():
    from poslib.claims import check_padding_parity

    table, resamples = natural_table([
        ("imagenet", 224, 5, 0.30, 0.01), ("imagenet", 225, 0, 0.70, 0.01),  # less skewed where uneven: compensation
        ("random", 224, 5, 0.90, 0.01), ("random", 225, 0, 0.60, 0.01),  # geometry: more uneven, more skew
        ("noisy", 224, 5, 0.50, 0.2), ("noisy", 225, 0, 0.48, 0.2)])
    checks = check_padding_parity(table, resamples, "f4", 224).set_index("subject")
    assert checks.loc["net/imagenet, zeros, f4, 224 vs 225 px", "outcome"] == "contradicted"
    assert checks.loc["net/random, zeros, f4, 224 vs 225 px", "outcome"] == "holds"
    assert checks.loc["net/noisy, zeros, f4, 224 vs 225 px", "outcome"] == "inconclusive"
    assert checks.loc["net/imagenet, zeros, f4, 224 vs 225 px", "difference"] == -0.4 or \
        abs(checks.loc["net/imagenet, zeros, f4, 224 vs 225 px", "difference"] + 0.4) < 1e-9
    assert (checks["n_seeds"] == 0).all() and (checks["n_images"] == 30).all()


def test_same_number_of_uneven_layers_gives_no_check():
    from poslib.claims import check_padding_parity

    table, resamples = natural_table([("imagenet", 224, 1, 0.3, 0.01), ("imagenet", 226, 1, 0.5, 0.01)])
    assert check_padding_parity(table, resamples, "f4", 224).empty


def test_compensation_sentence_follows_the_checks_and_the_control():
    import types

    import pandas as pd

    from poslib.claims import check_padding_parity

    table, resamples = natural_table([("imagenet", 224, 5, 0.30, 0.01), ("imagenet", 225, 0, 0.70, 0.01),
                                      ("random", 224, 5, 0.90, 0.01), ("random", 225, 0, 0.60, 0.01)])
    side = pd.DataFrame({"kind": "readout side error", "backbone": "net", "weights": "imagenet", "tap": "H",
                         "measure": "right_minus_left", "input_size": [224, 225], "value": [0.02, 0.2]})
    study = types.SimpleNamespace(natural=types.SimpleNamespace(table=table), table=side)
    settings = types.SimpleNamespace(parity_sizes=(224, 225), parity_rows=(("net", "imagenet"),),
                                     parity_contrast_rows=(), parity_control_rows=(("net", "random"),))
    checks = check_padding_parity(table, resamples, "f4", 224)
    [sentence] = pp.compensation_sentences(study, checks, settings, "f4")
    assert "compensates for its own uneven padding" in sentence and "0.020 at 224 px vs 0.200 at 225 px" in sentence
    # the same trained row with a control that shows no geometric skew: not settled
    flat = checks.assign(outcome=lambda f: np.where(f["subject"].str.contains("random"), "inconclusive", f["outcome"]))
    [sentence] = pp.compensation_sentences(study, flat, settings, "f4")
    assert "not settled" in sentence


def test_plot_natural_asymmetry_draws_one_panel_with_a_line_per_row_and_rule():
    table, _ = natural_table([("imagenet", 224, 5, 0.30, 0.01), ("imagenet", 225, 0, 0.70, 0.01),
                              ("random", 224, 5, 0.90, 0.01), ("random", 225, 0, 0.60, 0.01)])
    figure = pp.plot_natural_asymmetry(table, "f4")
    [axis] = figure.axes[:1]
    assert len(axis.get_lines()) >= 2 and len(figure.axes) <= 2


@pytest.mark.parametrize("width", [6, 7])
def test_mean_map_asymmetry_equals_its_definition_on_even_and_odd_widths(width, rng):
    maps = rng.standard_normal((4, 3, 5, width))
    direct = np.abs(maps - maps[..., ::-1]).mean(axis=(-3, -2, -1)) / (np.abs(maps).mean(axis=(-3, -2, -1)) + 1e-12)
    np.testing.assert_allclose(pp.mean_map_asymmetry(maps), direct, rtol=1e-12)
    assert pp.mean_map_asymmetry(maps + maps[..., ::-1]).max() < 1e-12  # a mirror-symmetric map: 0


def test_asymmetry_resamples_equal_the_asymmetry_of_each_resampled_mean_map(rng):
    pair_maps = (rng.standard_normal((7, 5, 6, 9)) + np.linspace(0, 1, 9)).astype(np.float32)
    weights = pp.resample_weights(len(pair_maps), n_resamples=450)
    estimate, resamples = pp.asymmetry_resamples(pair_maps, weights)
    np.testing.assert_allclose(estimate, pp.mean_map_asymmetry(pair_maps.astype(np.float64).mean(0)), rtol=1e-6)
    direct = pp.mean_map_asymmetry(np.einsum("rn,nchw->rchw", weights, pair_maps.astype(np.float64)))
    np.testing.assert_allclose(resamples, direct, rtol=1e-5)
    assert resamples.std() > 0  # the resamples differ: a real bootstrap, not one value repeated
