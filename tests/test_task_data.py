"""poslib.task_data: notebook 05's data, clean test sets, and the distilled classification task."""

import dataclasses

import numpy as np
import pytest

from poslib import scenes
from poslib.config import TaskSettings
from poslib.task_data import distilled_classification_data, drop_near_duplicates, saliency_data


def test_a_resized_copy_of_a_training_photo_is_dropped_from_the_test_set():
    train = scenes.saliency_scenes("train", 4, 64, seed=0)
    others = scenes.saliency_scenes("test", 4, 64, seed=5)
    copy = train.images[2][:, ::-1][:, ::-1]  # the same photo, as a separate array
    candidates = dataclasses.replace(others, images=np.concatenate([others.images, copy[None]]),
                                     targets=np.concatenate([others.targets, train.targets[2:3]]),
                                     ids=others.ids + ["copy"])
    kept, removed = drop_near_duplicates(train, candidates)
    assert [r["test"] for r in removed] == ["copy"] and removed[0]["train"] == train.ids[2]
    assert len(kept) == len(others) and "copy" not in kept.ids
    assert len(drop_near_duplicates(train, others)[1]) == 0  # negative control: unrelated scenes stay


def test_sod_holds_no_ecssd_training_photo(data_root):
    if data_root is None or not (data_root / "SOD").is_dir():
        pytest.skip("ECSSD and SOD are not on this machine (set POSLIB_DATA)")
    data = saliency_data(TaskSettings(saliency_size=64), str(data_root))
    sod = next(t for t in data.tests if t.name == "SOD")
    assert len(data.removed_near_duplicates["SOD"]) > 20  # SOD shares photos with ECSSD
    assert len(sod) + len(data.removed_near_duplicates["SOD"]) == 300
    assert "Dropped from the test sets" in data.notice()


def test_distilled_labels_are_teacher_distributions():
    photos = scenes.saliency_scenes("train", 3, 64, seed=0)
    task = distilled_classification_data(photos, temperature=2.0)
    assert task.task == "classification" and task.n_outputs == 1000 and task.tests == []
    assert task.train.targets.shape == (3, 1000)
    np.testing.assert_allclose(task.train.targets.sum(axis=1), 1.0, atol=1e-4)
    sharper = distilled_classification_data(photos, temperature=1.0).train.targets
    assert (sharper.max(axis=1) > task.train.targets.max(axis=1)).all()  # a lower temperature sharpens
