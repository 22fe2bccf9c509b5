"""Notebook 02: Table 1's rows probed with readouts trained on two training sets.

Black and White are single images (they are unique), so a verdict on them has no spread
over test images; what can vary is the training set the readout learned from (the same
backbone on Black gave H .33 trained on ECSSD and .62 trained on CamVid frames in an
earlier render). :func:`probe_training_sets` therefore trains every row's readouts on the
profile's training set and, when the profile names one (``second_train_images``), on a
second one, and tests both on the same test sets (their features are cached once).
:func:`poslib.claims.across_training_sets` then calls a check decided only when it comes
out the same way for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from ..config import Profile
from ..data import natural_image_set, resolve_data_root
from ..near_duplicates import near_duplicate_records
from ..probing import ProbedRows, ProbeImages, probe_backbones, readout_config_for
from ..readout import ReadoutConfig
from ..tables import summarise, with_backbone_class

#: Columns of the published Table 1 (one training set) and of the table by training set.
TABLE1_COLUMNS = ["backbone", "weights", "test_set", "pattern", "spc", "mae", "spc_std", "mae_std", "n_seeds",
                  "n_images", "n_constant"]


@dataclass
class TrainingSetStudy:
    """Table 1's probing under each training set.

    Attributes
    ----------
    runs : dict
        Training-set name -> :class:`poslib.probing.ProbedRows` (the first is the profile's
        own training set, the one Table 1 and the paper comparison use).
    images : dict
        Training-set name -> :class:`poslib.probing.ProbeImages` (same test sets).
    readout : ReadoutConfig
    overlaps : dict
        Training-set name -> test images that are near-duplicates of its training images
        (for the profile's own set they were dropped before the test sets were drawn; for the
        second set they are counted here, since the test sets must stay the same).
    """

    runs: dict[str, ProbedRows]
    images: dict[str, ProbeImages]
    readout: ReadoutConfig
    overlaps: dict[str, int] = field(default_factory=dict)

    @property
    def primary(self) -> ProbedRows:
        """The rows probed with the profile's own training set."""
        return next(iter(self.runs.values()))

    def per_image(self) -> pd.DataFrame:
        """Per-image rows of every training set, with a ``train_set`` column."""
        return pd.concat([run.per_image.assign(train_set=name) for name, run in self.runs.items()], ignore_index=True)

    def table1(self) -> pd.DataFrame:
        """Table 1 for the profile's own training set (summary over seeds, backbone classes)."""
        summary = summarise(self.primary.per_image, by=["backbone", "weights", "test_set", "pattern"])
        return with_backbone_class(summary[TABLE1_COLUMNS])

    def by_training_set(self) -> pd.DataFrame:
        """Table 1's summary for every training set (column ``train_set`` after ``weights``)."""
        summary = summarise(self.per_image(), by=["backbone", "weights", "train_set", "test_set", "pattern"])
        return with_backbone_class(summary[TABLE1_COLUMNS[:2] + ["train_set"] + TABLE1_COLUMNS[2:]])


def second_training_images(profile: Profile, images: ProbeImages, data_root: str = "",
                           seed: int = 0) -> ProbeImages | None:
    """``images`` with the profile's second training set in place of the first (None when there is none).

    The test sets stay the same objects, so their cached features are reused; the second
    set is only used with a data folder (the embedded default has one set of training photos).
    """
    root = resolve_data_root(data_root)
    if root is None or not profile.second_train_images or profile.second_train_images == images.train.name:
        return None
    train = natural_image_set(profile.second_train_images, "train", profile.input_size, profile.n_train, root, seed)
    return replace(images, train=train)


def probe_training_sets(profile: Profile, rows, images: ProbeImages, data_root: str = "", seed: int = 0,
                        progress: bool = True) -> TrainingSetStudy:
    """Probe ``rows`` (``(backbone, weights)``) with readouts trained on each training set of the profile.

    Parameters
    ----------
    profile : Profile
        Seeds, readout schedule, input size, ``second_train_images`` and ``second_train_rows``
        (the rows that also train on the second set).
    rows : iterable of (str, str)
    images : ProbeImages
        The notebook's images (its training set first).
    data_root : str
    seed : int
        Seed of the second training set's subset.
    progress : bool
    """
    readout = readout_config_for(profile)
    sets = {images.train.name: images}
    second = second_training_images(profile, images, data_root, seed)
    if second is not None:
        sets[second.train.name] = second
    rows = list(rows)
    second_rows = rows if profile.second_train_rows is None else [r for r in rows if tuple(r) in
                                                                     {tuple(k) for k in profile.second_train_rows}]
    runs = {name: probe_backbones(rows if index == 0 else second_rows, each, readout, profile.seeds,
                                  profile.input_size, progress=progress)
            for index, (name, each) in enumerate(sets.items())}
    overlaps = {name: sum(len(near_duplicate_records(each.train.images, each.train.ids, test.images, test.ids))
                          for test in each.natural_tests)
                for name, each in list(sets.items())[1:]}
    return TrainingSetStudy(runs, sets, readout, overlaps)
