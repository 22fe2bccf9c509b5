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

Results go to ``results/bench/bench_table1.json`` and ``.md`` (atomic writes).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
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
from .readout import PosENet, upsample
from .report import atomic_write_bytes


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def run_benchmark(n_train: int, n_test: int, naive_n_train: int, data_root: str = "") -> dict:
    """Both measurements (see the module docstring); returns the record."""
    seed_everything(0)
    profile = get_profile("default")
    readout_config = readout_config_for(profile, epochs=15)
    record = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "device": "cuda" if torch.cuda.is_available() else "cpu"},
              "settings": {"n_train": n_train, "n_test": n_test, "epochs": readout_config.epochs,
                           "batch_size": readout_config.batch_size, "input_size": profile.input_size,
                           "targets": list(PATTERN_NAMES), "readout_seeds": [0]}}
    with tempfile.TemporaryDirectory(prefix="poslib-bench-") as cache:
        os.environ[CACHE_ENV] = cache
        images = prepare_images(replace(profile, n_train=n_train, n_test=n_test), data_root)
        record["data"] = images.describe()
        record["table1"] = cached_workload(profile.backbones, images, readout_config)
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
        os.environ.pop(CACHE_ENV)
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
    return "\n".join(lines)


def main_bench(args) -> int:
    """Entry point of ``python -m poslib bench``."""
    record = run_benchmark(args.n_train, args.n_test, args.naive_n_train, args.data)
    out = Path(args.out)
    atomic_write_bytes(out / "bench_table1.json", json.dumps(record, indent=1).encode())
    text = render_markdown(record)
    atomic_write_bytes(out / "bench_table1.md", text.encode())
    print(text)
    return 0
