"""Benchmark of the Table-1 workload: cached one-pass design against the naive design.

``python -m poslib bench`` measures, on this machine:

1. **The Table-1 workload** (every row of notebook 02 whose weights are here, the
   natural test set plus Black / White / Noise, all five targets, one readout seed, the
   paper's 15 epochs) at a stated size, starting from an empty feature cache: backbone
   forward passes per image and configuration, wall time split into feature extraction
   and readout training, and peak resident memory.
2. **The naive design** (the backbone runs inside the training loop, one target at a time,
   as in the paper's public code) on a small workload, next to the cached design on the
   same small workload; the ratio of their wall times and of their forward passes.
3. **Readout training speed** (:func:`readout_speed`) on the VGG16 features of the
   Table-1 training images (cached by step 1, so no extra forward passes): the original
   path (``compute="float32-reference"``: one float32 model per seed, loss on upsampled
   maps) against :func:`poslib.readout.train_readouts` (all seeds and targets in one
   grouped model, ``compute="auto"``), with the same initialisations and batch order:
   epoch time, time per (backbone, seed, target, epoch), achieved GFLOP/s against this
   machine's measured matmul peak (:func:`matmul_peak`, float32 and bfloat16), speedup,
   and the SPC difference on the natural test set; a third path runs the first convolution
   of coarse taps at their own resolution, and the same fast paths without the reference
   run on ResNet-152 features (the most coarse channels).

The feature cache is a private temporary folder; the caller's ``POSLIB_CACHE`` is
restored afterwards (:func:`private_cache`).

Results go to ``results/bench/bench_table1.json`` and ``.md`` (atomic writes).

``python -m poslib bench --feature-compute`` measures instead the numeric path of frozen
forward passes (:func:`feature_compute_check`): the same images through each backbone in
float32 and under bfloat16 autocast, their extraction times, the relative difference of the
features per tap, and the readout scores (all five targets, the default profile's schedule)
trained on each; written to ``results/bench/feature_compute.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import features
from .backbones import WeightsNotFoundError, build_backbone
from .config import CACHE_ENV, get_profile, seed_everything
from .features import FeatureConfig, images_to_tensor, tapped_features
from .patterns import PATTERN_NAMES, make_patterns
from .probing import extract_bundle, prepare_images, probe, readout_config_for
from .readout import PosENet, ReadoutConfig, evaluate, readout_epoch_flops, train_readouts, upsample
from .store import atomic_write_bytes
from .work import BENCH_RECORD


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def private_cache(prefix: str = "poslib-bench-"):
    """Point ``POSLIB_CACHE`` at a fresh temporary folder; restore the previous value (or absence) after."""
    previous = os.environ.get(CACHE_ENV)
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as cache:
            os.environ[CACHE_ENV] = cache
            yield cache
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 3) -> float:
    """Measured GFLOP/s of ``size`` x ``size`` matrix products in ``dtype`` on the CPU (best of ``repeats``)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e9


def _mean_spc(models, features, targets, channels=None) -> np.ndarray:
    """(seeds, targets) SPC means over the images of ``features``."""
    rows = []
    for model, _ in models:
        scores = evaluate(model, features, targets, PATTERN_NAMES, channels=channels)
        rows.append([scores[name]["spc"].mean() for name in PATTERN_NAMES])
    return np.array(rows)


def readout_speed(train_features: np.ndarray, test_features: np.ndarray, config: ReadoutConfig, seeds,
                  peaks: dict | None = None, native_sizes: np.ndarray | None = None,
                  with_reference: bool = True) -> dict:
    """Reference (per seed, float32) against grouped fast readout training on one feature set.

    All paths get the same initialisations (seed ``s`` -> ``PosENet`` under
    ``torch.manual_seed(s)``) and the same batch order (the first seed's), so their SPC
    difference measures the compute mode only. Epoch times are the median over epochs
    (the machine may be shared). ``peaks`` (GFLOP/s by dtype name, from
    :func:`matmul_peak`) adds the ratio of achieved to peak. With ``native_sizes`` a third
    path, ``fast_native``, runs the first convolution of coarse taps at their own
    resolution (:mod:`poslib.readout.fast`); its GFLOP/s are *equivalent* ones (the 28 x 28
    FLOPs it replaces, over its time), so it can exceed the peak. ``with_reference=False``
    leaves the slow reference out (for large features).

    Returns
    -------
    dict
        Workload shape, per path: compute mode, epoch seconds (median; the reference's is
        the sum over seeds), seconds per (seed, target, epoch), GFLOP/s; the speedups; the
        SPC of each path per target (mean over seeds) and the largest absolute difference
        of each fast path from the first path (per seed and target, and of the seed means).
    """
    seeds = list(seeds)
    targets = make_patterns(config.target_size)
    n_targets, (n_images, channels, side, _) = len(targets), train_features.shape
    flops = readout_epoch_flops(config, n_images, channels, side, len(seeds) * n_targets)
    record = {"shape": {"n_images": n_images, "channels": channels, "side": side, "batch_size": config.batch_size,
                        "seeds": seeds, "targets": n_targets, "epochs": config.epochs, "depth": config.depth,
                        "kernel_size": config.kernel_size, "hidden_channels": config.hidden_channels},
              "flops_per_epoch_all_seeds": flops}
    spc = {}
    paths = ([("reference", "float32-reference", None)] if with_reference else []) + [("fast", "auto", None)]
    if native_sizes is not None:
        paths.append(("fast_native", "auto", native_sizes))
    for path, compute, sizes in paths:
        info = {}
        rss_before = peak_rss_mb()
        models = train_readouts(train_features, targets, replace(config, compute=compute), seeds, progress=False,
                                info=info, native_sizes=sizes)
        per_seed_epochs = np.array(info["epoch_seconds"]).reshape(-1, config.epochs)
        # reference: one row per seed (sum them); fast: one row for all seeds
        epoch_s = float(np.median(per_seed_epochs, axis=1).sum())
        gflops = flops["total"] / epoch_s / 1e9
        entry = {"compute": info["compute"], "compute_reason": info["compute_reason"],
                 "epoch_s_all_seeds": round(epoch_s, 3),
                 "s_per_backbone_seed_target_epoch": round(epoch_s / (len(seeds) * n_targets), 4),
                 "gflops": round(gflops, 3), "peak_rss_mb_after": round(peak_rss_mb(), 1),
                 "peak_rss_grew_mb": round(peak_rss_mb() - rss_before, 1)}
        dtype_name = "bfloat16" if info["compute"] == "bfloat16" else "float32"
        if peaks:
            entry["fraction_of_matmul_peak"] = round(gflops / peaks[dtype_name], 3)
        if sizes is not None:
            entry["coarse_channels"] = info["coarse_channels"]
        record[path] = entry
        spc[path] = _mean_spc(models, test_features, targets)
    names = [path for path, _, _ in paths]
    base = names[0]
    record["speedup"] = {f"{base} / {path}": round(record[base]["epoch_s_all_seeds"] / record[path]["epoch_s_all_seeds"], 2)
                         for path in names[1:]}
    record["spc_natural_test"] = {path: dict(zip(PATTERN_NAMES, np.round(v.mean(axis=0), 4).tolist()))
                                  for path, v in spc.items()}
    record["spc_abs_difference_max"] = {f"{base} vs {path}": {
        "per_seed_and_target": round(float(np.abs(spc[base] - spc[path]).max()), 4),
        "seed_mean_per_target": round(float(np.abs(spc[base].mean(0) - spc[path].mean(0)).max()), 4)}
        for path in names[1:]}
    return record


def cached_workload(rows, images, readout_config, seeds=(0,)) -> dict:
    """Run probing the cached way; return timings and forward-pass counts per configuration."""
    features.FORWARD_PASSES.clear()
    timings = {"feature_extraction_s": 0.0, "readout_training_s": 0.0}
    probed = []
    for backbone, weights in rows:
        started = time.perf_counter()
        try:
            bundle = extract_bundle(FeatureConfig(backbone, weights, input_size=readout_config.target_size), images,
                                    progress=False)
        except WeightsNotFoundError:
            continue
        timings["feature_extraction_s"] += time.perf_counter() - started
        started = time.perf_counter()
        probe(bundle, readout_config, seeds, progress=False)
        timings["readout_training_s"] += time.perf_counter() - started
        probed.append(f"{backbone}/{weights}")
    n_images = len(images.train) + sum(len(t) for t in images.tests)
    passes = dict(features.FORWARD_PASSES)
    return {**{k: round(v, 2) for k, v in timings.items()}, "rows": probed, "images_per_configuration": n_images,
            "forward_passes": passes,
            "forward_passes_per_image": {k: v / n_images for k, v in passes.items()}}


def naive_workload(backbone_name: str, weights: str, images, readout_config) -> dict:
    """Backbone inside the loop, one readout per target (the public code's design)."""
    backbone = build_backbone(backbone_name, weights, input_size=readout_config.target_size)
    targets = torch.from_numpy(make_patterns(readout_config.target_size))
    passes, started = 0, time.perf_counter()
    for t in range(len(PATTERN_NAMES)):
        torch.manual_seed(t)
        model = PosENet(sum(backbone.tap_channels), 1)
        optimiser = torch.optim.SGD(model.parameters(), lr=readout_config.lr, momentum=readout_config.momentum,
                                    weight_decay=readout_config.weight_decay)
        for _ in range(readout_config.epochs):
            order = np.random.default_rng(t).permutation(len(images.train))
            for start in range(0, len(order), readout_config.batch_size):
                batch = images_to_tensor(images.train.images[np.sort(order[start:start + readout_config.batch_size])])
                feature_batch = tapped_features(backbone, batch, 28).clone()  # leave inference mode
                passes += len(batch)
                prediction = upsample(model(feature_batch), readout_config.target_size)
                loss = ((prediction[:, 0] - targets[t]) ** 2).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    return {"wall_s": round(time.perf_counter() - started, 2), "forward_passes": passes}


#: Rows of the Table-1 workload: one of each kind of network here (the heaviest, ResNet-152, included).
BENCH_ROWS = (("pixels", "none"), ("vgg16", "random"), ("resnet152", "random"), ("efficientnet-lite0", "imagenet"),
              ("vgg16", "imagenet-caffe"))


def run_benchmark(n_train: int, n_test: int, naive_n_train: int, data_root: str = "",
                  readout_epochs: int | None = None, readout_seeds=None) -> dict:
    """The three measurements (see the module docstring); returns the record.

    ``readout_epochs`` / ``readout_seeds`` size the readout-speed comparison (default: the
    Table-1 schedule and the default profile's seeds).
    """
    seed_everything(0)
    profile = get_profile("default")
    readout_config = readout_config_for(profile, epochs=15)
    record = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "device": "cuda" if torch.cuda.is_available() else "cpu"},
              "settings": {"n_train": n_train, "n_test": n_test, "epochs": readout_config.epochs,
                           "batch_size": readout_config.batch_size, "input_size": profile.input_size,
                           "targets": list(PATTERN_NAMES), "readout_seeds": [0]}}
    record["matmul_peak_gflops"] = {"float32": round(matmul_peak(torch.float32), 1),
                                    "bfloat16": round(matmul_peak(torch.bfloat16), 1), "size": 2048}
    with private_cache():
        images = prepare_images(replace(profile, n_train=n_train, n_test=n_test), data_root)
        record["data"] = images.describe()
        record["table1"] = cached_workload(BENCH_ROWS, images, readout_config)
        bundle = extract_bundle(FeatureConfig("vgg16", "random", input_size=readout_config.target_size), images,
                                progress=False)  # cached by the Table-1 workload
        speed_config = replace(readout_config, epochs=readout_epochs or readout_config.epochs)
        record["readout_speed"] = {"backbone": "vgg16/random", **readout_speed(
            bundle.train.array, bundle.tests[0].array, speed_config, readout_seeds or profile.readout_seeds,
            record["matmul_peak_gflops"], native_sizes=bundle.train.channel_sizes())}
        deep = extract_bundle(FeatureConfig("resnet152", "random", input_size=readout_config.target_size), images,
                              progress=False)  # cached by the Table-1 workload
        record["readout_speed_coarse"] = {"backbone": "resnet152/random", **readout_speed(
            deep.train.array, deep.tests[0].array, speed_config, readout_seeds or profile.readout_seeds,
            record["matmul_peak_gflops"], native_sizes=deep.train.channel_sizes(), with_reference=False)}
        record["table1"]["forward_passes_after_readout_speed"] = dict(features.FORWARD_PASSES)
        small = prepare_images(replace(profile, n_train=naive_n_train, n_test=4), data_root)
        small_config = readout_config_for(profile, epochs=3)
        started = time.perf_counter()
        cached_small = cached_workload([("vgg16", "random")], small, small_config)
        cached_small["wall_s"] = round(time.perf_counter() - started, 2)
        naive_small = naive_workload("vgg16", "random", small, small_config)
        record["naive_vs_cached"] = {
            "workload": f"vgg16/random, {naive_n_train} training images, {small_config.epochs} epochs, 5 targets "
                        "(training only for naive; cached includes feature extraction and test sets)",
            "cached": cached_small, "naive": naive_small,
            "wall_time_ratio_naive_over_cached": round(naive_small["wall_s"] / cached_small["wall_s"], 2),
            "forward_pass_ratio_naive_over_cached": round(
                naive_small["forward_passes"] / cached_small["forward_passes"]["vgg16/random"], 2),
            "forward_passes_per_image_at_paper_schedule": {"cached": 1, "naive": 15 * len(PATTERN_NAMES)}}
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return record


def render_markdown(record: dict) -> str:
    """A short human-readable rendering of a benchmark record."""
    table1, naive = record["table1"], record["naive_vs_cached"]
    lines = ["# Benchmark: Table-1 workload", "",
             f"Machine: {record['machine']}", f"Settings: {record['settings']}", "",
             f"- rows probed: {', '.join(table1['rows'])}",
             f"- forward passes per image and configuration: {table1['forward_passes_per_image']}",
             f"- feature extraction: {table1['feature_extraction_s']} s; readout training (all five targets, "
             f"evaluation included): {table1['readout_training_s']} s",
             f"- peak resident memory: {record['peak_rss_mb']} MiB", "",
             f"Naive vs cached ({naive['workload']}):",
             f"- naive: {naive['naive']['wall_s']} s, {naive['naive']['forward_passes']} forward passes",
             f"- cached: {naive['cached']['wall_s']} s, {naive['cached']['forward_passes']} forward passes",
             f"- wall-time ratio naive / cached: {naive['wall_time_ratio_naive_over_cached']}x; "
             f"forward-pass ratio: {naive['forward_pass_ratio_naive_over_cached']}x",
             f"- at the paper's schedule (15 epochs x 5 targets): "
             f"{naive['forward_passes_per_image_at_paper_schedule']} forward passes per image", ""]
    for key in ("readout_speed", "readout_speed_coarse"):
        if key in record:
            lines += render_readout_speed(record[key], record.get("matmul_peak_gflops", {}))
    return "\n".join(lines)


def render_readout_speed(speed: dict, peaks: dict) -> list[str]:
    """Markdown lines of a :func:`readout_speed` record."""
    lines = [f"Readout training speed ({speed.get('backbone', '')} features, shape {speed['shape']}):",
             f"- measured matmul peak ({peaks.get('size', '')}^2 products): float32 {peaks.get('float32')} GFLOP/s, "
             f"bfloat16 {peaks.get('bfloat16')} GFLOP/s",
             "- FLOPs counted: first convolution forward + weight gradient, later convolutions forward + both "
             "gradients; element-wise work (BN, sigmoid, loss, upsampling, SGD) not counted",
             "", "| path | compute | epoch s (all seeds) | s per (backbone, seed, target, epoch) | GFLOP/s | "
             "fraction of peak | peak RSS after (MiB) |", "|---|---|---|---|---|---|---|"]
    for path in ("reference", "fast", "fast_native"):
        if path not in speed:
            continue
        e = speed[path]
        compute = e["compute"] + (f", coarse taps at their own side {e['coarse_channels']}" if "coarse_channels" in e else "")
        lines.append(f"| {path} | {compute} | {e['epoch_s_all_seeds']} | {e['s_per_backbone_seed_target_epoch']} "
                     f"| {e['gflops']} | {e.get('fraction_of_matmul_peak', '')} | {e['peak_rss_mb_after']} |")
    lines += ["", "- fast_native: GFLOP/s are equivalent ones (the 28 x 28 FLOPs it replaces, over its time)"
              if "fast_native" in speed else "",
              f"- speedup per epoch: {speed['speedup']}",
              f"- natural-test SPC (mean over seeds): {speed['spc_natural_test']}",
              f"- largest |SPC difference|: {speed['spc_abs_difference_max']}", ""]
    return lines


#: Rows of the feature-compute check: the paper's VGG16, a depthwise-convolution network and the random control.
FEATURE_COMPUTE_ROWS = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"), ("vgg16", "random"))
#: Largest |difference| of a mean readout score (SPC or MAE, per row and target) the bfloat16 path may make.
FEATURE_COMPUTE_TOLERANCE = 0.01


def feature_compute_check(n_train: int, n_test: int, data_root: str = "", seeds=(0, 1),
                          rows=FEATURE_COMPUTE_ROWS) -> dict:
    """float32 against bfloat16 frozen forward passes: time, feature difference, readout scores.

    Each path extracts the features into its own private cache; the readouts (the default
    profile's schedule) train on each path's features with the same seeds and are scored on
    the first natural test set.

    Returns
    -------
    dict
        ``rows``: per row, the extraction seconds of each path, the relative norm of the feature
        difference per tap, the mean SPC and MAE per target on each path and their largest
        |difference|; ``within_tolerance`` compares that with :data:`FEATURE_COMPUTE_TOLERANCE`.
    """
    seed_everything(0)
    profile = replace(get_profile("default"), n_train=n_train, n_test=n_test)
    readout_config = readout_config_for(profile)
    images = prepare_images(profile, data_root)
    record = {"settings": {"n_train": n_train, "n_test": n_test, "seeds": list(seeds), "epochs": readout_config.epochs,
                           "batch_size": readout_config.batch_size, "input_size": profile.input_size,
                           "test_set": images.tests[0].name, "torch_threads": torch.get_num_threads()},
              "tolerance": FEATURE_COMPUTE_TOLERANCE, "rows": {}}
    original = features.FEATURE_COMPUTE
    try:
        for backbone, weights in rows:
            paths = {}
            for compute in ("float32", "bfloat16"):
                features.FEATURE_COMPUTE = compute
                with private_cache():
                    started = time.perf_counter()
                    try:
                        bundle = extract_bundle(FeatureConfig(backbone, weights, input_size=profile.input_size),
                                                images, progress=False)
                    except WeightsNotFoundError:
                        break
                    seconds = time.perf_counter() - started
                    result = probe(bundle, readout_config, seeds, progress=False)
                    scores = (result.per_image[result.per_image.test_set == images.tests[0].name]
                              .groupby("pattern")[["spc", "mae"]].mean())
                    paths[compute] = {"seconds": seconds, "train": np.asarray(bundle.train.array, np.float32),
                                      "scores": scores, "tap_channels": bundle.train.tap_channels,
                                      "tap_names": bundle.train.tap_names}
            if len(paths) < 2:
                continue
            reference, fast = paths["float32"], paths["bfloat16"]
            bounds = np.cumsum([0] + list(reference["tap_channels"]))
            tap_difference = {name: float(np.linalg.norm(fast["train"][:, bounds[i]:bounds[i + 1]]
                                                         - reference["train"][:, bounds[i]:bounds[i + 1]])
                                          / max(np.linalg.norm(reference["train"][:, bounds[i]:bounds[i + 1]]), 1e-12))
                              for i, name in enumerate(reference["tap_names"])}
            largest = float((fast["scores"] - reference["scores"]).abs().to_numpy().max())
            record["rows"][f"{backbone}/{weights}"] = {
                "extraction_s": {"float32": round(reference["seconds"], 2), "bfloat16": round(fast["seconds"], 2)},
                "relative_feature_difference": {k: round(v, 5) for k, v in tap_difference.items()},
                "scores_float32": reference["scores"].round(4).to_dict(),
                "scores_bfloat16": fast["scores"].round(4).to_dict(),
                "largest_score_difference": round(largest, 4)}
    finally:
        features.FEATURE_COMPUTE = original
    record["within_tolerance"] = all(r["largest_score_difference"] <= FEATURE_COMPUTE_TOLERANCE
                                     for r in record["rows"].values())
    return record


def render_feature_compute(record: dict) -> str:
    """Markdown of a :func:`feature_compute_check` record."""
    lines = ["# Benchmark: numeric path of frozen forward passes", "", f"Settings: {record['settings']}", "",
             "| row | extraction s float32 | extraction s bfloat16 | speedup | relative feature difference per tap | "
             "largest |score difference| (SPC or MAE, mean over seeds and test images) |", "|---|---|---|---|---|---|"]
    for row, entry in record["rows"].items():
        seconds = entry["extraction_s"]
        lines.append(f"| {row} | {seconds['float32']} | {seconds['bfloat16']} | "
                     f"{seconds['float32'] / max(seconds['bfloat16'], 1e-9):.2f}x | "
                     f"{entry['relative_feature_difference']} | {entry['largest_score_difference']} |")
    lines += ["", f"Tolerance: {record['tolerance']}; within it: {record['within_tolerance']}.", ""]
    return "\n".join(lines)


def main_bench(args) -> int:
    """Entry point of ``python -m poslib bench``."""
    if args.feature_compute:
        record = feature_compute_check(args.n_train, args.n_test, args.data)
        out = Path(args.out)
        atomic_write_bytes(out / "feature_compute.json", json.dumps(record, indent=1).encode())
        text = render_feature_compute(record)
        atomic_write_bytes(out / "feature_compute.md", text.encode())
        print(text)
        return 0
    record = run_benchmark(args.n_train, args.n_test, args.naive_n_train, args.data)
    out = Path(args.out)
    atomic_write_bytes(out / BENCH_RECORD, json.dumps(record, indent=1).encode())
    text = render_markdown(record)
    atomic_write_bytes(out / "bench_table1.md", text.encode())
    print(text)
    return 0
