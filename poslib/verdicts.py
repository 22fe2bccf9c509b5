r"""Verdicts decided by intervals: a bootstrap over test images and seeds, and three outcomes.

A check compares per-image scores of two conditions A and B (two backbones, two paddings,
...) or of one condition against a fixed threshold. Its verdict is read off a 95 %
interval of the mean difference, not off a count of standard errors:

* :func:`hierarchical_bootstrap` resamples test images and seeds and returns an
  :class:`Interval` (observed mean difference, percentile interval, counts);
* :func:`decide` turns an interval into exactly one of ``"holds"``, ``"contradicted"``,
  ``"inconclusive"`` for a claim of the form "A > B by more than a margin"
  (``side="greater"``), "A < B by more than a margin" (``side="less"``) or "A - B about
  zero within a margin" (``side="within"``);
* :func:`verdict_row` gives the row a claims table stores (difference, low, high,
  n_images, n_seeds, outcome, rule) and :func:`claim_outcome` combines the outcomes of a
  claim's checks.

Input: tidy per-image scores
----------------------------
One condition's scores are a :class:`pandas.DataFrame` with (at least) the columns
``seed``, ``image`` and ``score``: one row per (seed, image), every seed scored on every
image (a complete grid; other columns are ignored). Scores of several targets (H and G,
say) are first averaged per (seed, image) with :func:`average_over_targets`.

The resampling model
--------------------
Images and seeds are *crossed* random factors: each seed's readout is scored on every test
image, and a different test set or a different training run would change the result. The
bootstrap therefore draws, in every resample, the test images with replacement and then
each condition's seeds with replacement, and recomputes the mean difference over the
drawn (seed, image) grid (Owen's "pigeonhole" bootstrap for crossed designs). Specifically:

* **images** are drawn once per resample and the same draw is used for A and B when both
  were scored on the same set of images (*paired*, the default whenever the image sets
  are equal), so variation shared by the two conditions (an image that is hard for
  both) cancels; if the image sets differ, each condition's images are drawn on their own
  (*unpaired*);
* **seeds** are independent training runs of each condition, so each condition's seeds
  are drawn on their own, also when A and B use the same seed numbers and also when their
  numbers of seeds differ (the difference is then the mean over the drawn images of each
  condition's mean over its drawn seeds). ``pair_seeds=True`` draws the same seeds for both
  instead, for the case where seed ``s`` of A and seed ``s`` of B share a random source
  (a batch order, say) that should cancel.

The percentile interval of the resampled differences is returned at level ``confidence``.
Two known properties of this bootstrap for crossed designs: the residual (seed x image)
noise enters both levels, which makes the interval slightly conservative; and a level
with few units is under-represented by a factor ``(n - 1) / n`` in variance (2/3 for
three seeds), so where the spread over seeds dominates the spread over images the
interval is too narrow (simulated, 50 images x 3 seeds: coverage .94 when seeds carry
about a fifth of the variance, .88 at two thirds, .83 at four fifths). With a single image
only seeds are resampled, and with three seeds the 95 % percentile interval is then just
the range of the three seed means (nominal coverage about 75 %). :attr:`Interval.seed_share`
estimates the seeds' share of the variance, and the ``rule`` text says when it exceeds
:data:`SEED_DOMINANCE` with fewer than :data:`FEW_SEEDS` seeds. With a single seed the
spread over training runs is not seen at all: the interval is about that one trained
readout, and the rule text says "images only: 1 seed".

Why not :func:`scipy.stats.bootstrap`: it resamples observations along one axis (the same
indices for all samples when ``paired=True``), i.e. one level. Here two crossed levels are
resampled together, images shared between the conditions and seeds drawn per condition,
which it cannot express; the code below draws resampling *counts* (multinomial weights)
for images and seeds and computes all resampled means at once with one matrix product,
so 2,000 resamples of 300 images x 3 seeds take a few milliseconds.

Degenerate cases
----------------
With one seed only images are resampled, with one image only seeds. A condition with a
single score (one image and one seed) has no spread at all: its interval is a point
(``low == high == estimate``) and :func:`decide` returns ``"inconclusive"`` for it,
never ``"holds"``.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> grid = pd.MultiIndex.from_product([range(3), range(100)], names=["seed", "image"]).to_frame(index=False)
>>> hardness = rng.normal(0.0, 0.2, 100)                  # shared by both conditions
>>> a = grid.assign(score=0.60 + hardness[grid["image"]] + rng.normal(0, 0.02, len(grid)))
>>> b = grid.assign(score=0.50 + hardness[grid["image"]] + rng.normal(0, 0.02, len(grid)))
>>> interval = hierarchical_bootstrap(a, b, random_state=1)
>>> interval.paired, interval.n_images, interval.n_seeds, interval.n_resamples
(True, 100, 3, 2000)
>>> bool(interval.low < interval.estimate < interval.high)
True
>>> decide(interval, "greater"), decide(interval, "greater", margin=0.2)
('holds', 'contradicted')
>>> row = verdict_row(interval, "greater")
>>> row["outcome"]
'holds'
>>> print(*row["rule"].split("; "), sep="\n")
hierarchical bootstrap over 100 images x 3 seeds, paired on images, 2000 resamples, 95% interval
holds if low > 0, contradicted if high < 0

(Longer than 400 lines, most of them documentation and doctests: the resampling model, its
known limits and the three decision rules must be stated where they are implemented.)
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

#: Resamples per interval: the issue's minimum; the Monte Carlo error of a 95 % interval's end
#: points is then about 1.5 % of its width.
N_RESAMPLES = 2000
#: Two-sided level of every interval (the usual 95 %).
CONFIDENCE = 0.95
#: Default seed of the resampling, so that the same scores always give the same tables.
RANDOM_STATE = 0
#: (resample x image) cells computed per block, so that memory stays near 50 MB for any number of images.
RESAMPLES_PER_BLOCK_CELLS = 2_000_000
#: Seed share of the variance above which the interval is flagged: the few seeds then carry
#: most of it (3 seeds, share about .65: simulated coverage .88).
SEED_DOMINANCE = 0.5
#: Seeds below which a seed-dominated interval is flagged (a bootstrap over fewer is clearly too narrow).
FEW_SEEDS = 10
#: Columns every tidy score frame must have.
REQUIRED_COLUMNS = ("seed", "image", "score")

HOLDS = "holds"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
#: The three outcomes of a check or a claim.
OUTCOMES = (HOLDS, CONTRADICTED, INCONCLUSIVE)
#: Claim forms :func:`decide` understands.
SIDES = ("greater", "less", "within")
#: How :func:`claim_outcome` combines checks.
CLAIM_RULES = ("every", "majority")


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval of a mean difference ``mean(A) - mean(B)`` (or ``mean(A) - threshold``).

    Attributes
    ----------
    estimate : float
        The observed difference of the means over all (seed, image) scores.
    low, high : float
        End points of the percentile interval at level ``confidence``.
    confidence : float
        Two-sided level of the interval, e.g. 0.95.
    n_images, n_seeds : int
        The smallest number of images and of seeds over the conditions (the evidence is
        no larger than that); per condition in ``images_per_condition`` and
        ``seeds_per_condition``.
    n_resamples : int
        Number of bootstrap resamples.
    paired : bool
        Whether A and B were resampled on the same image draws.
    degenerate : bool
        True when a condition has a single score (one image and one seed): the interval
        is then a point and shows no spread; :func:`decide` calls it inconclusive.
    rule : str
        A readable description of how the interval was computed.
    images_per_condition, seeds_per_condition : tuple of int
        Counts per condition (one entry against a threshold, two for A vs B).
    seed_share : float
        Rough share of the variance of the estimate that comes from the spread over
        seeds (seed-mean variance / n_seeds against image-mean variance / n_images); NaN
        with a single seed (its spread is unknown). Above :data:`SEED_DOMINANCE`, with
        fewer than :data:`FEW_SEEDS` seeds, the rule text warns that the interval is
        likely too narrow.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_images: int
    n_seeds: int
    n_resamples: int
    paired: bool
    degenerate: bool
    rule: str
    images_per_condition: tuple = ()
    seeds_per_condition: tuple = ()
    seed_share: float = float("nan")


class _ScoreGrid(NamedTuple):
    """One condition's scores as a seeds x images array, with the seed and image labels."""

    values: np.ndarray
    seeds: np.ndarray
    images: np.ndarray


# ----------------------------------------------------------------------------- input


def _score_grid(scores: pd.DataFrame, name: str) -> _ScoreGrid:
    """Validate a tidy frame and pivot it to a complete (seed x image) array, labels sorted."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns {', '.join(REQUIRED_COLUMNS)}, "
                        f"not {type(scores).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(repr(c) for c in missing)}")
    if len(scores) == 0:
        raise ValueError(f"{name} has no rows")
    for column in ("seed", "image"):
        if scores[column].isna().any():
            raise ValueError(f"{name}: column {column!r} has {int(scores[column].isna().sum())} "
                             "missing value(s)")
    try:
        values = pd.to_numeric(scores["score"], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: column 'score' must be numeric ({error})") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: column 'score' has {int((~np.isfinite(values)).sum())} "
                         "missing or infinite value(s) (NaN/inf)")
    keys = scores[["seed", "image"]]
    duplicated = keys.duplicated()
    if duplicated.any():
        first = keys[duplicated].iloc[0]
        raise ValueError(f"{name}: columns 'seed', 'image' must identify one row each; (seed {first['seed']!r}, "
                         f"image {first['image']!r}) occurs more than once (average targets first with "
                         "average_over_targets, or select one condition)")
    table = pd.DataFrame({"seed": keys["seed"].to_numpy(), "image": keys["image"].to_numpy(), "score": values})
    wide = table.pivot(index="seed", columns="image", values="score").sort_index(axis=0).sort_index(axis=1)
    if wide.isna().any().any():
        seed = wide.index[wide.isna().any(axis=1)][0]
        lacking = int(wide.loc[seed].isna().sum())
        raise ValueError(f"{name}: columns 'seed', 'image' must form a complete grid; seed {seed!r} "
                         f"lacks {lacking} of {wide.shape[1]} images")
    return _ScoreGrid(wide.to_numpy(dtype=float), wide.index.to_numpy(), wide.columns.to_numpy())


def average_over_targets(scores: pd.DataFrame, targets: Iterable | None = None) -> pd.DataFrame:
    """Mean score over targets per (seed, image), e.g. the mean of H and G on every image.

    Parameters
    ----------
    scores : pandas.DataFrame
        Columns ``seed``, ``image``, ``target``, ``score`` for one condition.
    targets : iterable, optional
        Targets to average (others are dropped); default all targets in ``scores``.
        Every (seed, image) must have a score for each of them.

    Returns
    -------
    pandas.DataFrame
        Columns ``seed``, ``image``, ``score``: one row per (seed, image).

    Examples
    --------
    >>> frame = pd.DataFrame({"seed": [0, 0, 0, 0], "image": ["a", "a", "b", "b"],
    ...                       "target": ["H", "G", "H", "G"], "score": [0.4, 0.6, 0.2, 0.3]})
    >>> average_over_targets(frame).to_dict("list")
    {'seed': [0, 0], 'image': ['a', 'b'], 'score': [0.5, 0.25]}
    """
    if "target" not in getattr(scores, "columns", ()):
        raise ValueError("scores lacks column 'target'")
    missing = [column for column in REQUIRED_COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks column(s) {', '.join(repr(c) for c in missing)}")
    wanted = list(pd.unique(scores["target"])) if targets is None else list(targets)
    if not wanted:
        raise ValueError("no targets to average")
    part = scores[scores["target"].isin(wanted)]
    if part["score"].isna().any():
        raise ValueError(f"column 'score' has {int(part['score'].isna().sum())} missing value(s) (NaN)")
    grouped = part.groupby(["seed", "image"], sort=True)
    counts = grouped["target"].nunique()
    if (counts < len(wanted)).any() or (grouped.size() != counts).any():
        seed, image = counts.index[((counts < len(wanted)) | (grouped.size() != counts)).to_numpy()][0]
        raise ValueError(f"column 'target': (seed {seed!r}, image {image!r}) must have exactly one score "
                         f"for each of {wanted}")
    missing_targets = [t for t in wanted if t not in set(part["target"])]
    if missing_targets:
        raise ValueError(f"column 'target' has no rows for {missing_targets}")
    return grouped["score"].mean().reset_index()


# ----------------------------------------------------------------------------- the bootstrap


def _resample_counts(rng: np.random.Generator, n_units: int, n_resamples: int) -> np.ndarray:
    """How often each of ``n_units`` units is drawn in each resample (rows sum to ``n_units``)."""
    if n_units == 1:
        return np.ones((n_resamples, 1))
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples).astype(float)


def _count_text(counts: tuple, unit: str) -> str:
    if len(set(counts)) == 1:
        return f"{counts[0]} {unit}{'' if counts[0] == 1 else 's'}"
    return " / ".join(f"{n} ({label})" for n, label in zip(counts, "AB")) + f" {unit}s"


def _method_text(images: tuple, seeds: tuple, paired: bool, pair_seeds: bool, threshold: float | None,
                 n_resamples: int, confidence: float) -> str:
    grid = f"{_count_text(images, 'image')} x {_count_text(seeds, 'seed')}"
    if any(i * s == 1 for i, s in zip(images, seeds)):
        return f"{grid}: a condition with a single score has no spread (always inconclusive)"
    if max(seeds) == 1:
        parts = [f"bootstrap over {grid} (images only: 1 seed)"]
    elif max(images) == 1:
        parts = [f"bootstrap over {grid} (seeds only: 1 image)"]
    else:
        parts = [f"hierarchical bootstrap over {grid}"]
    if threshold is not None:
        parts.append(f"against {threshold:g}")
    elif paired:
        parts.append("paired on images and seeds" if pair_seeds else "paired on images")
    else:
        parts.append("unpaired")
    parts.append(f"{n_resamples} resamples, {100 * confidence:g}% interval")
    return ", ".join(parts)


def _seed_share(grids: tuple, paired: bool, pair_seeds: bool) -> float:
    """Share of the estimate's variance from seeds: var(seed means)/S against var(image means)/I, per condition."""
    if min(len(grid.seeds) for grid in grids) < 2:
        return float("nan")
    signs = (1.0, -1.0)[:len(grids)]

    def level(axis: int, shared: bool) -> float:
        means = [grid.values.mean(axis=axis) for grid in grids]
        if shared:
            combined = sum(sign * m for sign, m in zip(signs, means))
            return float(np.var(combined, ddof=1) / len(combined)) if len(combined) > 1 else 0.0
        return float(sum(np.var(m, ddof=1) / len(m) for m in means if len(m) > 1))

    seed_part = level(1, pair_seeds)
    image_part = level(0, paired)
    total = seed_part + image_part
    return seed_part / total if total > 0 else float("nan")


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    raise TypeError(f"random_state must be an int or a numpy Generator, not {type(random_state).__name__}")


def hierarchical_bootstrap(a: pd.DataFrame, b: pd.DataFrame | float = 0.0, *, paired: bool | None = None,
                           pair_seeds: bool = False, n_resamples: int = N_RESAMPLES,
                           confidence: float = CONFIDENCE, random_state=RANDOM_STATE) -> Interval:
    """Interval of ``mean(A) - mean(B)`` by resampling test images and seeds.

    Every resample draws the images with replacement (one draw for both conditions when
    paired), then each condition's seeds with replacement, and takes the difference of
    the means over the drawn (seed, image) scores. See the module docstring for the model.

    Parameters
    ----------
    a : pandas.DataFrame
        Tidy scores of condition A: columns ``seed``, ``image``, ``score``, one row per
        (seed, image), a complete grid.
    b : pandas.DataFrame or float, default 0.0
        Tidy scores of condition B, or a fixed threshold ``t`` (then the interval is of
        ``mean(A) - t``, and only A is resampled).
    paired : bool, optional
        Draw the same images for A and B. Default: paired exactly when A and B have the
        same set of images. ``True`` with different image sets raises ``ValueError``.
    pair_seeds : bool, default False
        Also draw the same seeds for A and B (requires the same seed labels and paired
        images). Default: each condition's seeds are drawn on their own, because seeds
        are independent training runs of each condition.
    n_resamples : int, default :data:`N_RESAMPLES`
        Number of resamples.
    confidence : float, default :data:`CONFIDENCE`
        Two-sided level of the percentile interval.
    random_state : int or numpy.random.Generator, default :data:`RANDOM_STATE`
        Seed or generator of the resampling (a generator is advanced).

    Returns
    -------
    Interval

    Raises
    ------
    ValueError
        For a frame without the columns ``seed``, ``image``, ``score``, with missing or
        infinite scores, repeated (seed, image) rows or an incomplete grid (the message
        names the column), and for invalid options.

    Examples
    --------
    >>> scores = pd.DataFrame({"seed": [0, 0, 1, 1], "image": ["x", "y", "x", "y"],
    ...                        "score": [0.7, 0.9, 0.8, 0.8]})
    >>> interval = hierarchical_bootstrap(scores, 0.5)
    >>> round(interval.estimate, 3), round(interval.low, 3), round(interval.high, 3)
    (0.3, 0.2, 0.4)
    """
    if not isinstance(n_resamples, (int, np.integer)) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, not {n_resamples!r}")
    if not isinstance(confidence, Real) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    rng = _generator(random_state)
    grid_a = _score_grid(a, "scores A")
    threshold = None
    if isinstance(b, pd.DataFrame):
        grid_b = _score_grid(b, "scores B")
        same_images = (len(grid_a.images) == len(grid_b.images)
                       and bool(np.all(grid_a.images == grid_b.images)))
        if paired is None:
            paired = same_images
        elif paired and not same_images:
            raise ValueError("paired=True needs A and B scored on the same images (column 'image' differs)")
        paired = bool(paired)
        if pair_seeds and not (paired and len(grid_a.seeds) == len(grid_b.seeds)
                               and bool(np.all(grid_a.seeds == grid_b.seeds))):
            raise ValueError("pair_seeds=True needs paired images and the same seeds in A and B (column 'seed')")
        grids = (grid_a, grid_b)
    elif isinstance(b, Real) and np.isfinite(float(b)):
        if pair_seeds or paired:
            raise ValueError("paired/pair_seeds apply to a comparison of two frames, not to a threshold")
        threshold, paired, grids = float(b), False, (grid_a,)
    else:
        raise TypeError(f"b must be a score frame or a finite number, not {b!r}")

    means = [float(grid.values.mean()) for grid in grids]
    estimate = means[0] - (means[1] if len(grids) == 2 else threshold)
    images = tuple(len(grid.images) for grid in grids)
    seeds = tuple(len(grid.seeds) for grid in grids)
    degenerate = any(i * s == 1 for i, s in zip(images, seeds))
    rule = _method_text(images, seeds, paired, pair_seeds, threshold, int(n_resamples), float(confidence))
    seed_share = _seed_share(grids, paired, pair_seeds)
    if not degenerate and seed_share > SEED_DOMINANCE and min(seeds) < FEW_SEEDS:
        rule += (f" (seed spread dominates: {100 * seed_share:.0f}% of the variance, with {min(seeds)} "
                 f"seed{'' if min(seeds) == 1 else 's'} the interval may be too narrow)")
    common = dict(confidence=float(confidence), n_images=min(images), n_seeds=min(seeds),
                  n_resamples=int(n_resamples), paired=paired, degenerate=degenerate, rule=rule,
                  images_per_condition=images, seeds_per_condition=seeds, seed_share=seed_share)
    if degenerate:
        return Interval(estimate=estimate, low=estimate, high=estimate, **common)

    differences = np.empty(int(n_resamples))
    block = max(1, RESAMPLES_PER_BLOCK_CELLS // max(images))
    for start in range(0, int(n_resamples), block):
        size = min(block, int(n_resamples) - start)
        image_draws = _resample_counts(rng, images[0], size)
        seed_draws = _resample_counts(rng, seeds[0], size)
        resampled = [((seed_draws @ grids[0].values) * image_draws).sum(axis=1) / (images[0] * seeds[0])]
        if len(grids) == 2:
            if not paired:
                image_draws = _resample_counts(rng, images[1], size)
            if not pair_seeds:
                seed_draws = _resample_counts(rng, seeds[1], size)
            resampled.append(((seed_draws @ grids[1].values) * image_draws).sum(axis=1) / (images[1] * seeds[1]))
        differences[start:start + size] = resampled[0] - (resampled[1] if len(grids) == 2 else threshold)
    tail = (1.0 - float(confidence)) / 2.0
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    return Interval(estimate=estimate, low=float(low), high=float(high), **common)


# ----------------------------------------------------------------------------- outcomes


def basic_interval(estimate: float, resamples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The basic (reverse-percentile) bootstrap interval ``[2 t - q_high, 2 t - q_low]``.

    For a statistic whose plug-in estimate is biased (e.g. the asymmetry of a mean map, which a
    finite, noisy sample inflates), the resampled values carry that bias once more; the basic
    interval subtracts it instead of adding it, as the plain percentile interval would
    (:func:`poslib.experiments.padding_parity.natural_asymmetry`,
    :func:`poslib.claims.check_padding_parity`).

    Examples
    --------
    >>> basic_interval(1.0, np.array([1.0, 1.5, 2.0]), confidence=0.5)  # resamples sit 0.5 above: so does the bias
    (0.25, 0.75)
    """
    q_low, q_high = np.quantile(resamples, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(2 * estimate - q_high), float(2 * estimate - q_low)


def _check_side(side: str, margin: float) -> float:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    if not isinstance(margin, Real) or not np.isfinite(float(margin)):
        raise ValueError(f"margin must be a finite number, not {margin!r}")
    if side == "within" and float(margin) <= 0:
        raise ValueError(f"a 'within' claim needs a positive margin, not {margin!r}")
    return float(margin)


def decide(interval: Interval, side: str, margin: float = 0.0) -> str:
    """The outcome of a claim about the difference ``d`` given its interval ``[low, high]``.

    The outcome is decided only when the closed interval lies strictly on one side of
    every boundary of the claim; an interval that contains or touches a boundary is
    ``"inconclusive"``, and so is a degenerate interval (a single score, no spread).

    * ``side="greater"``, claim ``d > margin``: ``"holds"`` iff ``low > margin``,
      ``"contradicted"`` iff ``high < margin``;
    * ``side="less"``, claim ``d < -margin`` (A below B by more than the margin):
      ``"holds"`` iff ``high < -margin``, ``"contradicted"`` iff ``low > -margin``;
    * ``side="within"``, claim ``-margin < d < margin`` (``margin > 0``): ``"holds"`` iff
      ``-margin < low`` and ``high < margin``, ``"contradicted"`` iff ``low > margin`` or
      ``high < -margin`` (the whole interval outside the band);

    else ``"inconclusive"``. For a threshold claim "A > t", bootstrap ``A`` against ``t``
    (:func:`hierarchical_bootstrap` with ``b=t``) and decide with ``side="greater"``.

    Parameters
    ----------
    interval : Interval
    side : {"greater", "less", "within"}
    margin : float, default 0.0
        Any finite number for "greater"/"less" (a negative one states non-inferiority),
        positive for "within".

    Returns
    -------
    str
        One of :data:`OUTCOMES`.

    Examples
    --------
    >>> point = dict(confidence=0.95, n_images=300, n_seeds=3, n_resamples=2000, paired=True,
    ...              degenerate=False, rule="")
    >>> decide(Interval(0.05, 0.02, 0.08, **point), "greater")
    'holds'
    >>> decide(Interval(0.05, 0.02, 0.08, **point), "greater", margin=0.1)
    'contradicted'
    >>> decide(Interval(0.05, -0.01, 0.11, **point), "greater")
    'inconclusive'
    >>> decide(Interval(0.01, -0.03, 0.05, **point), "within", margin=0.1)
    'holds'
    """
    margin = _check_side(side, margin)
    low, high = float(interval.low), float(interval.high)
    if interval.degenerate or not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    if side == "greater":
        return HOLDS if low > margin else CONTRADICTED if high < margin else INCONCLUSIVE
    if side == "less":
        return HOLDS if high < -margin else CONTRADICTED if low > -margin else INCONCLUSIVE
    if -margin < low and high < margin:
        return HOLDS
    return CONTRADICTED if (low > margin or high < -margin) else INCONCLUSIVE


def decision_text(side: str, margin: float = 0.0) -> str:
    """The rule of :func:`decide` in words, e.g. ``"holds if low > 0, contradicted if high < 0"``.

    Examples
    --------
    >>> decision_text("within", 0.2)
    'holds if -0.2 < low and high < 0.2, contradicted if low > 0.2 or high < -0.2'
    """
    m = _check_side(side, margin)
    if side == "greater":
        return f"holds if low > {m:g}, contradicted if high < {m:g}"
    if side == "less":
        return f"holds if high < {-m:g}, contradicted if low > {-m:g}"
    return f"holds if {-m:g} < low and high < {m:g}, contradicted if low > {m:g} or high < {-m:g}"


def verdict_row(interval: Interval, side: str, margin: float = 0.0) -> dict:
    """The columns a claims table stores for one check.

    Returns
    -------
    dict
        ``difference`` (the observed estimate), ``low``, ``high``, ``n_images``,
        ``n_seeds`` (the smallest over the conditions; the rule names both when they
        differ), ``outcome`` (:func:`decide`) and ``rule`` (how the interval was made and
        how it was read).

    Examples
    --------
    >>> interval = Interval(0.3, 0.25, 0.35, 0.95, 300, 3, 2000, True, False, "bootstrap ...")
    >>> verdict_row(interval, "greater", 0.1)["outcome"]
    'holds'
    """
    return {"difference": interval.estimate, "low": interval.low, "high": interval.high,
            "n_images": interval.n_images, "n_seeds": interval.n_seeds,
            "outcome": decide(interval, side, margin),
            "rule": f"{interval.rule}; {decision_text(side, margin)}"}


def claim_outcome(outcomes: Iterable[str], rule: str = "every") -> str:
    """Combine the outcomes of a claim's checks into the claim's outcome.

    * ``rule="every"`` (a claim that states something of each check: "H, V and G are all
      recovered", "on every ImageNet backbone"), the three-valued logical *and*:
      ``"holds"`` iff every check holds; ``"contradicted"`` iff at least one check is
      contradicted (one counterexample refutes an "every"); else ``"inconclusive"``.
    * ``rule="majority"`` (a claim about what is typical): ``"holds"`` iff more than
      half of the checks hold; ``"contradicted"`` iff more than half are contradicted;
      else ``"inconclusive"``.

    Raises
    ------
    ValueError
        For no outcomes, an unknown outcome or an unknown rule.

    Examples
    --------
    >>> claim_outcome(["holds", "holds"]), claim_outcome(["holds", "inconclusive"])
    ('holds', 'inconclusive')
    >>> claim_outcome(["holds", "contradicted", "inconclusive"])
    'contradicted'
    >>> claim_outcome(["holds", "holds", "contradicted"], rule="majority")
    'holds'
    """
    outcomes = list(outcomes)
    if rule not in CLAIM_RULES:
        raise ValueError(f"rule must be one of {CLAIM_RULES}, not {rule!r}")
    if not outcomes:
        raise ValueError("a claim needs at least one check outcome")
    unknown = sorted({o for o in outcomes if o not in OUTCOMES}, key=str)
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; expected one of {OUTCOMES}")
    n_holds, n_contradicted = outcomes.count(HOLDS), outcomes.count(CONTRADICTED)
    if rule == "every":
        return HOLDS if n_holds == len(outcomes) else CONTRADICTED if n_contradicted else INCONCLUSIVE
    half = len(outcomes) / 2
    return HOLDS if n_holds > half else CONTRADICTED if n_contradicted > half else INCONCLUSIVE
