"""The data of notebook 05's tasks: saliency pairs (ECSSD, SOD), segmentation pairs (CamVid), and a
classification task on the saliency training photos (ImageNet labels distilled from EfficientNet-Lite0).

Without a data folder the pixel tasks run on procedurally generated scenes (:mod:`poslib.scenes`).
Test images that are near-duplicates of a training image (SOD shares photos with ECSSD) are
dropped with :func:`poslib.near_duplicates.find_near_duplicates` and counted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from .config import ConfigError, TaskSettings
from .features import images_to_tensor
from .near_duplicates import near_duplicate_records
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
    task : {"saliency", "segmentation", "classification"}
    train : PairedSet
    tests : list of PairedSet
    class_names : tuple of str
        Output classes (``("salient",)`` for saliency).
    ignore_index : int
        Target id that is ignored in the loss and the metrics.
    uses_embedded_default : bool
    removed_near_duplicates : dict
        Test set name -> ``{"test", "train", "distance"}`` records of the dropped test images.
    """

    task: str
    train: PairedSet
    tests: list[PairedSet]
    class_names: tuple[str, ...]
    ignore_index: int
    uses_embedded_default: bool
    removed_near_duplicates: dict = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        """Output channels of the network (1 for saliency, one per class otherwise)."""
        return 1 if self.task == "saliency" else len(self.class_names)

    def notice(self) -> str:
        """One line on which data this task uses."""
        tests = ", ".join(f"{t.name} ({len(t)})" for t in self.tests)
        text = f"{self.task}: train on {self.train.name} ({len(self.train)} images), test on {tests}."
        dropped = {name: len(records) for name, records in self.removed_near_duplicates.items() if records}
        if dropped:
            text += (" Dropped from the test sets as near-duplicates of training images: "
                     + ", ".join(f"{count} from {name}" for name, count in dropped.items()) + ".")
        if self.uses_embedded_default:
            return ("NOTICE: no dataset folder is set (POSLIB_DATA / data_root), so this run uses the EMBEDDED "
                    "DEFAULT: procedurally generated scenes (poslib.scenes) on the embedded photos. Numbers are "
                    "not comparable with the paper's. " + text)
        return text

    def describe(self) -> dict:
        """Provenance record."""
        return {"task": self.task, "train": self.train.describe(), "tests": [t.describe() for t in self.tests],
                "embedded_default": self.uses_embedded_default,
                "removed_near_duplicates": {name: len(r) for name, r in self.removed_near_duplicates.items()}}


def drop_near_duplicates(train: PairedSet, candidates: PairedSet, limit: int = 0,
                         seed: int = 0) -> tuple[PairedSet, list[dict]]:
    """The test pairs that are not near-duplicates of a training image, then a seeded subset of ``limit``.

    Returns
    -------
    test : PairedSet
    removed : list of dict
        ``{"test", "train", "distance"}`` per dropped test pair.
    """
    removed = near_duplicate_records(train.images, train.ids, candidates.images, candidates.ids)
    keep = np.array([i for i in range(len(candidates)) if i not in removed], dtype=np.int64)
    keep = keep[subset_indices(len(keep), limit, seed)]
    test = dataclasses.replace(candidates, images=candidates.images[keep], targets=candidates.targets[keep],
                               ids=[candidates.ids[i] for i in keep])
    return test, list(removed.values())


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
                             name="SOD", seed=seed)
    tests, removed = [], {}
    for candidates, limit in ((test, 0), (sod, settings.sod_test)):
        kept, removed[candidates.name] = drop_near_duplicates(train, candidates, limit, seed)
        tests.append(kept)
    return TaskData("saliency", train, tests, ("salient",), 255, False, removed)


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


# ----------------------------------------------------------------------------- classification by distillation

#: Input side of the teacher (EfficientNet-Lite0's ImageNet resolution).
TEACHER_INPUT_SIZE = 224


@torch.inference_mode()
def teacher_soft_labels(images: np.ndarray, temperature: float, batch_size: int = 32) -> np.ndarray:
    """ImageNet class probabilities of EfficientNet-Lite0 (ImageNet weights) at ``temperature``.

    Images are resized to :data:`TEACHER_INPUT_SIZE` and scaled as EfficientNet-Lite expects
    (``(255 x - 127) / 128``, about ``2 x - 1``).

    Returns
    -------
    numpy.ndarray
        float32 (N, 1000), rows summing to 1.
    """
    from efficientnet_lite_pytorch import EfficientNet

    from .backbones import seeded
    from .networks import efficientnet_lite0_imagenet_state

    teacher = seeded(0, lambda: EfficientNet.from_name("efficientnet-lite0", image_size=TEACHER_INPUT_SIZE))
    teacher.load_state_dict(efficientnet_lite0_imagenet_state()[0])
    teacher.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images_to_tensor(images[start:start + batch_size])
        batch = F.interpolate(batch, size=(TEACHER_INPUT_SIZE, TEACHER_INPUT_SIZE), mode="bilinear",
                              align_corners=False, antialias=True)
        outputs.append(torch.softmax(teacher((255.0 * batch - 127.0) / 128.0) / temperature, dim=1))
    return torch.cat(outputs).numpy().astype(np.float32)


def distilled_classification_data(photos: PairedSet, temperature: float) -> TaskData:
    """A classification task on ``photos``: ImageNet labels distilled from EfficientNet-Lite0.

    The targets are the teacher's soft predictions (:func:`teacher_soft_labels`), so the
    small encoder learns an ImageNet classifier's function on the same photos the saliency
    network sees, without ImageNet itself. There is no test set: only the encoder is used
    (probed for position in Table 6).

    Raises
    ------
    ConfigError
        If ``photos`` is empty.
    """
    if len(photos) == 0:
        raise ConfigError("no photos to distil the classification task on")
    soft = teacher_soft_labels(photos.images, temperature)
    train = PairedSet(f"{photos.name} (EfficientNet-Lite0 ImageNet soft labels, T={temperature:g})", photos.images,
                      soft, list(photos.ids), photos.source, photos.kind)
    return TaskData("classification", train, [], tuple(f"imagenet-{i}" for i in range(soft.shape[1])), -1,
                    photos.kind == "embedded")
