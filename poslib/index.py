"""The results index: ``results/README.md`` generated from the provenance records, never edited by hand.

:func:`write_index` lists every notebook's artefacts with its profile, parameters, data,
weights, seeds, commit and wall time, and opens with every claim's verdict per backbone
class read from the claims tables (:func:`verdicts_at_a_glance`); :func:`rebuild_index` is
``python -m poslib index``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .publish import ensure_writable, recover_publishes, run_lock
from .run_inputs import read_records
from .store import atomic_write_bytes


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


def rebuild_index(out_root: Path) -> Path:
    """``python -m poslib index``: under the run lock, roll back interrupted publishes, then :func:`write_index`.

    Raises
    ------
    ConfigError
        If the folder cannot be written, or a run into it holds its lock (naming its pid).
    """
    ensure_writable(out_root)
    with run_lock(out_root):
        recover_publishes(out_root)
        return write_index(out_root)


