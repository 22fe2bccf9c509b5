"""The data of notebook 05's tasks: saliency pairs (ECSSD, SOD) and segmentation pairs (CamVid).

Without a data folder both tasks run on procedurally generated scenes (:mod:`poslib.scenes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import TaskSettings
from .data import (DatasetError, PairedSet, dataset_image_dir, find_pairs, load_paired_folder, resolve_data_root,
                   split_indices, subset_indices)
from .scenes import SCENE_IGNORE_INDEX, SEGMENTATION_CLASSES, saliency_scenes, segmentation_scenes

#: CamVid's 11 classes (SegNet version); id 11 is void and ignored.
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist")
CAMVID_IGNORE_INDEX = 11


@dataclass
class TaskData:
    """Training pairs and test sets of one task.

    Attributes
    ----------
    task : {"saliency", "segmentation"}
    train : PairedSet
    tests : list of PairedSet
    class_names : tuple of str
        Output classes (``("salient",)`` for saliency).
    ignore_index : int
        Target id that is ignored in the loss and the metrics.
    uses_embedded_default : bool
    """

    task: str
    train: PairedSet
    tests: list[PairedSet]
    class_names: tuple[str, ...]
    ignore_index: int
    uses_embedded_default: bool

    @property
    def n_outputs(self) -> int:
        """Output channels of the network (1 for saliency, one per class otherwise)."""
        return 1 if self.task == "saliency" else len(self.class_names)

    def notice(self) -> str:
        """One line on which data this task uses."""
        tests = ", ".join(f"{t.name} ({len(t)})" for t in self.tests)
        text = f"{self.task}: train on {self.train.name} ({len(self.train)} images), test on {tests}."
        if self.uses_embedded_default:
            return ("NOTICE: no dataset folder is set (POSLIB_DATA / data_root), so this run uses the EMBEDDED "
                    "DEFAULT: procedurally generated scenes (poslib.scenes) on the embedded photos. Numbers are "
                    "not comparable with the paper's. " + text)
        return text

    def describe(self) -> dict:
        """Provenance record."""
        return {"task": self.task, "train": self.train.describe(), "tests": [t.describe() for t in self.tests],
                "embedded_default": self.uses_embedded_default}


def saliency_data(settings: TaskSettings, data_root: str = "", seed: int = 0) -> TaskData:
    """ECSSD train split / ECSSD held-out / SOD, or centre-biased scenes when there is no data folder.

    ECSSD is split 80 / 20 with :func:`poslib.data.split_indices` (seeded); the training
    subset and the test sets are then limited to the settings' counts.
    """
    size = settings.saliency_size
    root = resolve_data_root(data_root)
    if root is None:
        n_train = settings.saliency_train or 600
        n_test = settings.saliency_test or 200
        train = saliency_scenes("train", n_train, size, seed)
        tests = [saliency_scenes("test", n_test, size, seed, name="scenes-test"),
                 saliency_scenes("test", settings.sod_test or n_test, size, seed + 1, centre_bias=False)]
        return TaskData("saliency", train, tests, ("salient",), 255, True)
    ecssd_images, ecssd_masks = dataset_image_dir(root, "ECSSD"), root / "ECSSD" / "masks"
    train_index, test_index = split_indices(len(find_pairs(ecssd_images, ecssd_masks)), 0.2, seed)
    train_index = train_index[subset_indices(len(train_index), settings.saliency_train, seed)]
    test_index = test_index[subset_indices(len(test_index), settings.saliency_test, seed)]
    train, test = (load_paired_folder(ecssd_images, ecssd_masks, (size, size), binary=True, name=name, indices=index)
                   for name, index in (("ECSSD-train", train_index), ("ECSSD-test", test_index)))
    sod = load_paired_folder(dataset_image_dir(root, "SOD"), root / "SOD" / "masks", (size, size), binary=True,
                             limit=settings.sod_test, name="SOD", seed=seed)
    return TaskData("saliency", train, [test, sod], ("salient",), 255, False)


def segmentation_data(settings: TaskSettings, data_root: str = "", seed: int = 0) -> TaskData:
    """CamVid train / test (SegNet split, 11 classes, void ignored), or labelled scenes without a data folder.

    Raises
    ------
    DatasetError
        If a split is missing, or a label map holds an id other than 0..10 and the void id 11
        (naming the file and the ids found; checked on loading, before any training).
    """
    root = resolve_data_root(data_root)
    size_hw = settings.segmentation_size
    if root is None:
        train = segmentation_scenes("train", settings.segmentation_train or 367, size_hw, seed)
        test = segmentation_scenes("test", settings.segmentation_test or 233, size_hw, seed)
        return TaskData("segmentation", train, [test], SEGMENTATION_CLASSES, SCENE_IGNORE_INDEX, True)
    sets = []
    for split, limit in (("train", settings.segmentation_train), ("test", settings.segmentation_test)):
        folder = root / "CamVid" / split
        if not (folder / "images").is_dir():
            raise DatasetError(f"CamVid split {split!r} not found: expected {folder / 'images'} and "
                               f"{folder / 'labels'} (README.md, 'Datasets').")
        sets.append(load_paired_folder(folder / "images", folder / "labels", size_hw, binary=False, limit=limit,
                                       name=f"CamVid-{split}", seed=seed, n_classes=len(CAMVID_CLASSES),
                                       void_id=CAMVID_IGNORE_INDEX))
    return TaskData("segmentation", sets[0], [sets[1]], CAMVID_CLASSES, CAMVID_IGNORE_INDEX, False)
