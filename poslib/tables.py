"""Summary tables: per-image (or per-seed) rows -> means over images, then mean and spread over seeds.

:func:`summarise` turns the per-image rows of :func:`poslib.probing.probe` into a table with
one row per configuration, test set and pattern: means over images per seed, then mean and
sample standard deviation over seeds (:func:`aggregate_over_seeds`, the one aggregation over
seeds of the package). :func:`with_backbone_class` adds the backbone class the claims are
judged on. (Also importable from :mod:`poslib.probing`, where they used to live.)
"""

from __future__ import annotations

import pandas as pd

from .weights import CONTROL_CLASS, IMAGENET_CLASS, OTHER_CLASS, backbone_class, input_convention


def with_backbone_class(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``backbone_class`` (ImageNet, control or other) and ``input_convention`` columns
    after ``weights``, rows ordered by class.

    See :func:`poslib.weights.backbone_class` (claims 2-6 are judged on ImageNet rows only) and
    :func:`poslib.weights.input_convention` (what each row's network is fed:
    :data:`poslib.weights.INPUT_CONVENTIONS`).
    """
    classes = [backbone_class(b, w) for b, w in zip(frame["backbone"], frame["weights"])]
    conventions = [input_convention(b, w) for b, w in zip(frame["backbone"], frame["weights"])]
    frame = frame.drop(columns=["backbone_class", "input_convention"], errors="ignore")
    frame.insert(list(frame.columns).index("weights") + 1, "backbone_class", classes)
    frame.insert(list(frame.columns).index("backbone_class") + 1, "input_convention", conventions)
    order = {IMAGENET_CLASS: 0, OTHER_CLASS: 1, CONTROL_CLASS: 2}
    return frame.sort_values("backbone_class", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


#: Columns that identify a configuration in per-image results.
CONFIG_COLUMNS = ["backbone", "weights", "padding_rule", "taps", "depth", "kernel_size", "readout_padding"]


def aggregate_over_seeds(per_seed: pd.DataFrame, by: list[str], values, seed_column: str = "seed",
                         **extra) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1; NaN for one seed) over seeds: the one aggregation over seeds.

    Parameters
    ----------
    per_seed : pandas.DataFrame
        One row per configuration (``by``) and seed.
    by : list of str
        Grouping columns.
    values : iterable of str
        Columns to aggregate; each gives ``<value>`` (mean) and ``<value>_std``.
    seed_column : str
        Column naming the seed (counted as ``n_seeds``).
    **extra
        More named aggregations (pandas ``agg`` syntax), e.g. ``n_images=("n_images", "max")``.

    Returns
    -------
    pandas.DataFrame
        ``by`` + for each value ``<value>``, ``<value>_std`` + ``n_seeds`` + ``extra``.
    """
    aggregations = {}
    for value in values:
        aggregations[value] = (value, "mean")
        aggregations[f"{value}_std"] = (value, lambda s: s.std(ddof=1))
    aggregations["n_seeds"] = (seed_column, "nunique")
    aggregations.update(extra)
    return per_seed.groupby(by, sort=False).agg(**aggregations).reset_index()


def summarise(per_image: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean over images per seed, then mean and standard deviation over seeds.

    Parameters
    ----------
    per_image : pandas.DataFrame
        Output of :func:`probe` (or several, concatenated).
    by : list of str, optional
        Grouping columns (default: every configuration column present, plus test_set and pattern).

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` + spc, spc_std, mae, mae_std, n_seeds, n_images, n_constant
        (constant predictions summed over seeds and images; their SPC counts as 0).
    """
    if by is None:
        extra = [c for c in per_image.columns if c not in CONFIG_COLUMNS + [
            "seed", "test_set", "pattern", "image", "image_id", "spc", "mae", "constant"]]
        by = [c for c in CONFIG_COLUMNS if c in per_image.columns] + extra + ["test_set", "pattern"]
    per_seed = (per_image.groupby(by + ["seed"], sort=False)
                .agg(spc=("spc", "mean"), mae=("mae", "mean"), n_images=("image", "size"),
                     n_constant=("constant", "sum"))
                .reset_index())
    summary = aggregate_over_seeds(per_seed, by, ["spc", "mae"], n_images=("n_images", "max"),
                                   n_constant=("n_constant", "sum"))
    return summary[by + ["spc", "spc_std", "mae", "mae_std", "n_seeds", "n_images", "n_constant"]]
