import numpy as np
import pytest
from PIL import Image

from poslib import data
from poslib.data import DatasetError


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_missing_and_empty_folders(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="not found"):
        data.list_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        data.list_images(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        data.resolve_data_root(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="empty"):
        data.resolve_data_root(tmp_path / "empty")
    monkeypatch.setenv("POSLIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="POSLIB_DATA"):
        data.resolve_data_root()
    monkeypatch.delenv("POSLIB_DATA")
    assert data.resolve_data_root() is None


def test_unknown_dataset_name_is_reported(tmp_path):
    (tmp_path / "ECSSD").mkdir()
    with pytest.raises(DatasetError, match="PASCAL"):
        data.natural_image_set("PASCAL", "test", 32, 4, tmp_path)


def test_folder_of_own_photos_can_be_the_test_set(tmp_path, rng):
    for i in range(3):
        _save(tmp_path / f"{i}.jpg", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    image_set = data.natural_image_set(str(tmp_path), "test", 16, 0, None)
    assert image_set.images.shape == (3, 16, 16, 3) and image_set.kind == "dataset"


def test_relative_image_folders_are_taken_from_the_repository_root(tmp_path, rng, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        _save(folder / f"{i}.jpg", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # the kernel's folder is not the repository root
    assert data.natural_image_set("photos", "test", 16, 0, None).images.shape == (2, 16, 16, 3)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match="'photos' not found"):
        data.natural_image_set("photos", "test", 16, 0, None)


def test_dataset_sub_folders_name_a_split(tmp_path, rng):
    (tmp_path / "CamVid" / "test" / "images").mkdir(parents=True)
    _save(tmp_path / "CamVid" / "test" / "images" / "f.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    assert data.natural_image_set("CamVid/test", "test", 16, 0, tmp_path).name == "CamVid/test"


def test_pairs_must_match_by_stem_and_size(tmp_path, rng):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    _save(images / "a.jpg", rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    _save(masks / "a.png", np.zeros((10, 12), np.uint8))
    _save(images / "b.jpg", rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match="without a target"):
        data.find_pairs(images, masks)
    _save(masks / "b.png", np.zeros((9, 12), np.uint8))
    pairs = data.find_pairs(images, masks)
    data.load_pair(*pairs[0])
    with pytest.raises(DatasetError, match="size mismatch.*b.jpg"):
        data.load_pair(*pairs[1])


def test_split_and_subset_are_deterministic_and_disjoint():
    train, test = data.split_indices(50, 0.2, seed=1)
    assert not set(train) & set(test) and len(test) == 10
    assert np.array_equal(train, data.split_indices(50, 0.2, seed=1)[0])
    assert np.array_equal(data.subset_indices(100, 10, 2), data.subset_indices(100, 10, 2))


def test_real_datasets_load(data_root):
    if data_root is None or not (data_root / "SOD").is_dir():
        pytest.skip("no SOD dataset on this machine (set POSLIB_DATA to the dataset folder)")
    image_set = data.natural_image_set("SOD", "test", 32, 5, data_root)
    assert image_set.images.shape == (5, 32, 32, 3)


def _write_pair(folder, stem, image_size, mask_size):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(image_size[::-1] + (3,), np.uint8)).save(folder / "images" / f"{stem}.jpg")
    Image.fromarray(np.full(mask_size[::-1], 255, np.uint8)).save(folder / "masks" / f"{stem}.png")


def test_paired_loader_rejects_mismatched_sizes_naming_the_file(tmp_path):
    _write_pair(tmp_path, "good", (40, 30), (40, 30))
    _write_pair(tmp_path, "bad", (40, 30), (20, 30))
    with pytest.raises(data.DatasetError, match="bad"):
        data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (32, 32), binary=True)


def test_paired_loader_rejects_unpaired_files_and_binarises_masks(tmp_path):
    _write_pair(tmp_path, "a", (40, 30), (40, 30))
    loaded = data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (16, 24), binary=True)
    assert loaded.images.shape == (1, 16, 24, 3) and set(np.unique(loaded.targets)) == {1}
    assert not loaded.source.startswith("/")  # recorded relative to the repository
    (tmp_path / "masks" / "a.png").rename(tmp_path / "masks" / "b.png")
    with pytest.raises(data.DatasetError, match="do not pair up"):
        data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (16, 16), binary=True)


# ----------------------------------------------------------------------------- bad inputs (issue 8)


def _mask_set(tmp_path, mask):
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "masks").mkdir(exist_ok=True)
    Image.fromarray(np.zeros(mask.shape + (3,), np.uint8)).save(tmp_path / "images" / "m.jpg")
    Image.fromarray(mask).save(tmp_path / "masks" / "m.png")
    return data.load_paired_folder(tmp_path / "images", tmp_path / "masks", mask.shape, binary=True)


@pytest.mark.parametrize("low, high", [(0, 1), (0, 255), (3, 7)])
def test_two_valued_masks_are_binary_with_the_larger_value_salient(tmp_path, low, high):
    mask = np.full((8, 8), low, np.uint8)
    mask[:, :3] = high  # 24 of 64 pixels salient; a 0/1 mask used to become all background
    assert _mask_set(tmp_path, mask).targets.sum() == 24


def test_soft_masks_keep_the_127_threshold(tmp_path):
    mask = np.zeros((10, 10), np.uint8)
    mask[:, 6:] = 255
    mask[:, 4], mask[:, 5] = 100, 200  # antialiased edge
    assert _mask_set(tmp_path, mask).targets[0].sum(axis=0).tolist() == [0] * 5 + [10] * 5


@pytest.mark.parametrize("kind", ["label ids", "photo"])
def test_masks_that_are_neither_binary_nor_soft_are_refused(tmp_path, kind, rng):
    if kind == "label ids":
        mask = (np.arange(64).reshape(8, 8) % 5).astype(np.uint8)  # 0..4: would be all background at > 127
    else:
        mask = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    with pytest.raises(DatasetError, match=r"mask .*m\.png is neither binary nor a soft.*values \{0, 1, 2"
                       if kind == "label ids" else r"m\.png is neither binary"):
        _mask_set(tmp_path, mask)


def test_real_masks_are_read_as_binary(data_root):
    if data_root is None or not (data_root / "SOD").is_dir():
        pytest.skip("no SOD dataset on this machine (set POSLIB_DATA to the dataset folder)")
    loaded = data.load_paired_folder(data_root / "SOD" / "images", data_root / "SOD" / "masks", (32, 32),
                                     binary=True, limit=20)
    assert set(np.unique(loaded.targets)) == {0, 1} and 0.05 < loaded.targets.mean() < 0.8


def _camvid(root, label):
    for split in ("train", "test"):
        for sub in ("images", "labels"):
            (root / "CamVid" / split / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(root / "CamVid" / split / "images" / "f0.png")
        Image.fromarray(label).save(root / "CamVid" / split / "labels" / "f0.png")


def test_camvid_label_ids_out_of_range_are_refused_before_training(tmp_path):
    from poslib import task_data
    from poslib.config import TaskSettings

    settings = TaskSettings(segmentation_size=(12, 16))
    label = np.zeros((12, 16), np.uint8)
    label[:, :4] = 11  # void: fine
    label[0, 0] = 10
    _camvid(tmp_path, label)
    loaded = task_data.segmentation_data(settings, str(tmp_path))
    assert set(np.unique(loaded.train.targets)) == {0, 10, 11}
    label[5, 5] = 200
    _camvid(tmp_path, label)
    with pytest.raises(DatasetError, match=r"label map .*f0\.png holds class id\(s\) \{200\}.*outside 0\.\.10 "
                                           r"\(void id 11\); found \{0, 10, 11, 200\}"):
        task_data.segmentation_data(settings, str(tmp_path))


def test_rolled_images_keep_their_pixels_but_not_their_place(rng):
    images = rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    original = data.ImageSet("photos", images, [str(i) for i in range(6)], "test", "dataset")
    rolled = data.rolled_image_set(original, seed=3)
    assert rolled.name == "photos-rolled" and rolled.images.shape == images.shape
    assert np.array_equal(rolled.images, data.rolled_image_set(original, seed=3).images)  # seeded
    moved = 0
    for image, shifted, label in zip(images, rolled.images, rolled.ids):
        dy, dx = (int(v) for v in label.split("(")[1].rstrip(")").split(","))
        assert np.array_equal(np.roll(shifted, (-dy, -dx), axis=(0, 1)), image)  # a pure circular shift
        moved += (dy, dx) != (0, 0)
    assert moved >= 5
