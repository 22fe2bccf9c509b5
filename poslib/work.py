"""What a notebook computed: readout FLOPs and seconds, feature-extraction seconds and forward passes.

Counters of this process (a notebook's kernel), reset by its setup
(:func:`poslib.notebook.start`) and saved in its provenance record under ``work``
(:class:`poslib.report.Results`):

* :func:`poslib.readout.train_readouts` adds, per call, the convolution FLOPs of the
  readouts it trained, counted as the benchmark counts them
  (:func:`poslib.readout.readout_epoch_flops` per epoch, times the epochs trained), and
  the wall time of its training epochs (evaluation and input preparation not included).
  Readouts loaded from the readout store add nothing.
* :func:`poslib.features.extract_features` adds its wall time (cache reads, waits for
  another process writing the same entry, and backbone passes) and the images it ran
  through a backbone (cache misses only).

The driver turns the records into ``bench/notebooks.md`` and ``.csv``
(:func:`poslib.index.write_notebook_bench`), next to the bfloat16 matmul peak that
``python -m poslib bench`` measured (:func:`recorded_peak`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .runtime import REPO_ROOT, repo_relative

#: File name of the record ``python -m poslib bench`` writes (in ``results/bench/`` by default).
BENCH_RECORD = "bench_table1.json"

_WORK = {"readout_flops": 0, "readout_seconds": 0.0, "readouts_trained": 0,
         "feature_extraction_seconds": 0.0, "forward_passes": 0}


def add_readout_training(flops: int, seconds: float, readouts: int) -> None:
    """Count one training call: its FLOPs, its epochs' wall seconds and its readouts (one per seed)."""
    _WORK["readout_flops"] += int(flops)
    _WORK["readout_seconds"] += float(seconds)
    _WORK["readouts_trained"] += int(readouts)


def add_feature_extraction(seconds: float, forward_passes: int) -> None:
    """Count one feature extraction: its wall seconds and the images run through the backbone."""
    _WORK["feature_extraction_seconds"] += float(seconds)
    _WORK["forward_passes"] += int(forward_passes)


def work_done() -> dict:
    """The counters so far in this process, rounded, with torch's thread count.

    Returns
    -------
    dict
        ``readout_flops``, ``readout_seconds``, ``readouts_trained``,
        ``feature_extraction_seconds``, ``forward_passes`` and ``torch_threads``.
    """
    import torch

    return {**_WORK, "readout_seconds": round(_WORK["readout_seconds"], 3),
            "feature_extraction_seconds": round(_WORK["feature_extraction_seconds"], 3),
            "torch_threads": torch.get_num_threads()}


def reset_work() -> None:
    """Start counting afresh (a notebook's setup does this)."""
    _WORK.update(readout_flops=0, readout_seconds=0.0, readouts_trained=0, feature_extraction_seconds=0.0,
                 forward_passes=0)


def recorded_peak(out_root: Path) -> dict | None:
    """The bfloat16 matmul peak of the last ``python -m poslib bench``, or None if none was measured.

    Looked up in ``<out_root>/bench/`` and then in the repository's ``results/bench/`` (where
    ``python -m poslib bench`` writes by default).

    Returns
    -------
    dict or None
        ``gflops`` (bfloat16), ``source`` (the record, as results show paths) and the
        benchmark's ``machine`` (cores, torch threads...).
    """
    for folder in (Path(out_root) / "bench", REPO_ROOT / "results" / "bench"):
        path = folder / BENCH_RECORD
        try:
            record = json.loads(path.read_text())
            gflops = float(record["matmul_peak_gflops"]["bfloat16"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return {"gflops": gflops, "source": repo_relative(path), "machine": record.get("machine", {})}
    return None
