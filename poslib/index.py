"""The results index: ``results/README.md`` generated from the provenance records, never edited by hand.

:func:`write_index` lists every notebook's artefacts with its profile, parameters, data,
weights, seeds, commit and wall time, and opens with every claim's verdict per backbone
class read from the claims tables (:func:`verdicts_at_a_glance`); :func:`write_notebook_bench`
writes ``bench/notebooks.md`` and ``.csv``, each notebook's readout FLOPs, seconds and
achieved GFLOP/s against the measured bfloat16 peak (:mod:`poslib.work`);
:func:`rebuild_index` is ``python -m poslib index`` (both files).
"""

from __future__ import annotations

import json
from pathlib import Path

from .publish import ensure_writable, recover_publishes, run_lock
from .run_inputs import read_records
from .store import atomic_write_bytes
from .work import recorded_peak


def _describe_image_sets(images: dict) -> str:
    """``train ECSSD (400), PASCAL-S (300), ...`` of one recorded training set and its test sets."""
    parts = [f"train {images['train']['name']} ({images['train']['n_images']})"]
    parts += [f"test {t['name']} ({t['n_images']})" for t in images.get("tests", [])]
    return ", ".join(parts) + (" -- EMBEDDED DEFAULT" if images.get("embedded_default") else "")


def _describe_images(info: dict) -> str:
    """The data of a record: its task data sets (notebook 05's ``data``) first, then the probing images."""
    tasks = [(name, data) for name, data in (info.get("data") or {}).items()
             if isinstance(data, dict) and isinstance(data.get("train"), dict)]
    parts = [f"{name}: {_describe_image_sets(data)}" for name, data in tasks]
    if info.get("images"):
        parts.append(("readouts: " if tasks else "") + _describe_image_sets(info["images"]))
    return "; ".join(parts) or "-"


def _describe_seeds(info: dict) -> str:
    """The seeds a notebook ran with, read from its resolved profile (older records: their seed keys)."""
    profile = info.get("resolved_profile")
    if not profile:
        return str(info.get("seeds", info.get("training_seeds", "-")))
    text = f"{profile['seeds']}"
    if info.get("notebook", "").startswith("05"):
        text += f" (readouts); task networks {profile['tasks']['training_seeds']}"
    if profile.get("overrides"):
        text += f"; profile overrides {dict(profile['overrides'])}"
    return text


def _describe_readouts(info: dict) -> str:
    """How many readouts the notebook trained and how many it loaded from the readout store."""
    counts = info.get("readouts")
    if not counts:
        return "-"
    return f"{counts.get('trained', 0)} trained, {counts.get('reused', 0)} reused from the readout store"


def _weight_cache_note(info: dict) -> str:
    """How many of a record's trained models came from the weight cache (wall time excludes their training)."""
    models = info.get("models") or {}
    cached = [meta for meta in models.values() if meta.get("from_cache")]
    if not cached:
        return ""
    trained_in = sum(meta.get("seconds", 0.0) for meta in cached)
    return (f" ({len(cached)} of {len(models)} trained models loaded from the weight cache: their training, "
            f"{trained_in:.0f} s when they were trained, is not included)")


def verdicts_at_a_glance(out_root: Path) -> list[str]:
    """Markdown lines: every claim's verdict per backbone class, read from ``tables/claims_*.csv``.

    Computed with :func:`poslib.claims.verdict` from the claims tables the notebooks wrote, so the
    index never states a verdict that a table does not hold. Empty when there is no claims table.
    """
    import pandas as pd

    from .claims import verdict
    from .verdicts import OUTCOMES

    rows = []
    for table in sorted((out_root / "tables").glob("claims_*.csv")):
        checks = pd.read_csv(table)
        if not {"claim", "outcome"} <= set(checks.columns):
            continue  # a table written before verdicts had three outcomes
        for row in verdict(checks).itertuples():
            counts = ", ".join(f"{getattr(row, outcome)} {outcome}" for outcome in OUTCOMES)
            rows.append(f"| {row.claim} | {getattr(row, 'backbone_class', '-')} | **{row.verdict}** "
                        f"| {counts} (of {row.checks}) | [`tables/{table.name}`](tables/{table.name}) |")
    if not rows:
        return []
    return ["## Verdicts at a glance", "",
            "Read from the claims tables below (rule of `poslib.claims`: a check holds when its whole 95 % interval",
            "lies on the claimed side, is contradicted when it lies on the other side, and is inconclusive",
            "otherwise; a claim holds when every check holds). Each table's rows give the evidence, the",
            "difference, its interval, the numbers of images and seeds, and how the interval was made.", "",
            "| claim | backbone class | verdict | checks | table |", "|---|---|---|---|---|", *rows, ""]


def write_index(out_root: Path, statuses: dict[str, str] | None = None) -> Path:
    """Generate ``<out_root>/README.md`` from the provenance records (never edit it by hand).

    Parameters
    ----------
    out_root : Path
    statuses : dict, optional
        Notebook stem -> ``"re-run"`` or ``"kept (unchanged)"`` for the notebooks of this
        invocation; the others are listed as not run in it.
    """
    records = read_records(out_root)
    lines = ["# Results index", "",
             "Generated by `python -m poslib run` from the provenance records in `provenance/`; do not edit.",
             "Each section names the notebook that made the files, with its profile, parameters, data,",
             "backbone weights, seeds, commit and wall time, and whether this invocation re-ran it or kept",
             "it (inputs unchanged: notebook, package code, parameters, data, requirements).", ""]
    lines += verdicts_at_a_glance(out_root)
    for info in records:
        status = (statuses or {}).get(info["notebook"])
        status = (f"{status} in this invocation" if status else
                  "not run in this invocation" if statuses is not None
                  else "index rebuilt from the provenance records (python -m poslib index)")
        lines += [f"## {info.get('title', info['notebook'])}", "",
                  f"- executed notebook: [`{info.get('executed_notebook', '-')}`]({info.get('executed_notebook', '')})"
                  f" (run from the repository's notebook of the same name)",
                  f"- status: {status}; last ran {info.get('finished', '-')}"
                  f" (inputs hash `{info.get('inputs', {}).get('hash', '-')}`)",
                  f"- profile: `{info.get('profile', '-')}`; parameters: `{json.dumps(info.get('parameters', {}))}`",
                  f"- data: {_describe_images(info)}",
                  f"- backbones / weights: {', '.join(info.get('weights', [])) or '-'}",
                  f"- seeds: {_describe_seeds(info)}",
                  f"- readouts: {_describe_readouts(info)}",
                  f"- commit: `{info.get('commit', '-')[:12]}`{' (with uncommitted changes)' if info.get('dirty') else ''};"
                  f" finished {info.get('finished', '-')}; wall time {info.get('wall_time_s', '-')} s"
                  f" on {info.get('platform', {}).get('device', '-')}{_weight_cache_note(info)}"]
        for skipped in info.get("skipped", []):
            lines.append(f"- skipped: {skipped['backbone']}/{skipped['weights']}, padding {skipped.get('padding_rule', skipped.get('padding', 'zeros'))}"
                         f" ({skipped.get('cause', 'see the notebook')})")
        lines.append("")
        for artefact in info.get("artefacts", []):
            lines.append(f"  - [`{artefact['path']}`]({artefact['path']}): {artefact.get('caption', '')}")
        lines.append("")
    path = out_root / "README.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


def notebook_bench_table(records: list[dict], peak_gflops: float | None = None):
    """One row per provenance record: the work of its notebook (:mod:`poslib.work`) and its gap to the peak.

    Parameters
    ----------
    records : list of dict
        Provenance records (:func:`poslib.run_inputs.read_records`); a record without
        ``work`` (written before it was counted) gets empty cells.
    peak_gflops : float, optional
        The measured bfloat16 matmul peak; without it the fraction column is empty.

    Returns
    -------
    pandas.DataFrame
        ``notebook``, ``wall_s``, ``feature_extraction_s``, ``forward_passes``,
        ``readouts_trained``, ``readouts_reused``, ``readout_tflop``, ``readout_s``,
        ``readout_gflops`` (FLOPs over seconds), ``fraction_of_bf16_peak`` and
        ``torch_threads``; a last row ``all`` sums the columns that add up.

    Examples
    --------
    >>> work = {"readout_flops": 6e12, "readout_seconds": 30.0, "readouts_trained": 4,
    ...         "feature_extraction_seconds": 5.0, "forward_passes": 100, "torch_threads": 2}
    >>> table = notebook_bench_table([{"notebook": "01_x", "wall_time_s": 60.0, "work": work}], peak_gflops=400.0)
    >>> table[["notebook", "readout_gflops", "fraction_of_bf16_peak"]].to_dict("records")[0]
    {'notebook': '01_x', 'readout_gflops': 200.0, 'fraction_of_bf16_peak': 0.5}
    """
    import numpy as np
    import pandas as pd

    rows = []
    for info in records:
        work, counts = info.get("work") or {}, info.get("readouts") or {}
        rows.append({"notebook": info["notebook"], "wall_s": info.get("wall_time_s", np.nan),
                     "feature_extraction_s": work.get("feature_extraction_seconds", np.nan),
                     "forward_passes": work.get("forward_passes", np.nan),
                     "readouts_trained": counts.get("trained", np.nan), "readouts_reused": counts.get("reused", np.nan),
                     "readout_tflop": work.get("readout_flops", np.nan) / 1e12,
                     "readout_s": work.get("readout_seconds", np.nan), "torch_threads": work.get("torch_threads", np.nan)})
    columns = ["notebook", "wall_s", "feature_extraction_s", "forward_passes", "readouts_trained", "readouts_reused",
               "readout_tflop", "readout_s", "readout_gflops", "fraction_of_bf16_peak", "torch_threads"]
    table = pd.DataFrame(rows, columns=[c for c in columns if c not in ("readout_gflops", "fraction_of_bf16_peak")])
    if len(table):
        sums = table.drop(columns=["notebook", "torch_threads"]).sum(min_count=1)
        table = pd.concat([table, pd.DataFrame([{"notebook": "all", **sums}])], ignore_index=True)
    seconds = table["readout_s"].where(table["readout_s"] > 0)
    table["readout_gflops"] = table["readout_tflop"] * 1e3 / seconds
    table["fraction_of_bf16_peak"] = table["readout_gflops"] / peak_gflops if peak_gflops else np.nan
    return table[columns]


def write_notebook_bench(out_root: Path) -> Path:
    """Generate ``<out_root>/bench/notebooks.md`` and ``notebooks.csv`` from the provenance records.

    The table is :func:`notebook_bench_table`; the peak is the bfloat16 matmul peak of the
    last ``python -m poslib bench`` (:func:`poslib.work.recorded_peak`), else the markdown
    says "peak not measured".

    Returns
    -------
    Path
        The markdown file.
    """
    records = read_records(out_root)
    peak = recorded_peak(out_root)
    table = notebook_bench_table(records, peak["gflops"] if peak else None)
    folder = Path(out_root) / "bench"
    atomic_write_bytes(folder / "notebooks.csv", table.to_csv(index=False, float_format="%.6g").encode())
    if peak:
        machine = peak["machine"]
        peak_line = (f"Peak: bfloat16 matmul, {peak['gflops']} GFLOP/s, measured by `python -m poslib bench` "
                     f"(`{peak['source']}`; {machine.get('cpus', '?')} cores, {machine.get('torch_threads', '?')} "
                     f"torch threads). A notebook run with fewer threads (`--jobs`) has a lower limit of its own.")
    else:
        peak_line = "Peak: peak not measured (run `python -m poslib bench` to measure the bfloat16 matmul peak)."
    shown = table.astype(object).where(table.notna(), None)  # not recorded: "-"
    lines = ["# Work per notebook: the study's gap to the limit", "",
             "Generated by `python -m poslib run` from the provenance records in `provenance/`; do not edit.",
             "Readout FLOPs are counted as the benchmark counts them (`poslib.readout.readout_epoch_flops`: the",
             "convolutions' multiply-adds x 2, first layer forward + weight gradient, later layers forward + both",
             "gradients, per epoch trained); readout seconds are the wall time of the training epochs; readouts",
             "loaded from the readout store add neither. Feature extraction is the wall time of",
             "`poslib.features.extract_features` (cache reads included); forward passes count cache misses only.",
             "Wall time is the whole notebook (kernel start, evaluation, figures included).", "",
             peak_line, "", shown.to_markdown(index=False, floatfmt=".4g", missingval="-"), ""]
    path = folder / "notebooks.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


def rebuild_index(out_root: Path) -> Path:
    """``python -m poslib index``: under the run lock, roll back interrupted publishes, then :func:`write_index`
    and :func:`write_notebook_bench`.

    Raises
    ------
    ConfigError
        If the folder cannot be written, or a run into it holds its lock (naming its pid).
    """
    ensure_writable(out_root)
    with run_lock(out_root):
        recover_publishes(out_root)
        write_notebook_bench(out_root)
        return write_index(out_root)


