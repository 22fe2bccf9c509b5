"""Issue 23: the input paths a careful user with odd files can reach, each closed with a message or the right number.

One test (or a few) per defect of the issue, numbered as there; every input is a small synthetic
file made in ``tmp_path``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from poslib import data, image_files
from poslib.image_files import DatasetError, DatasetWarning


def _pair_folders(tmp_path, images, masks, mask_suffix=".png"):
    """``tmp_path/images/<i>.png`` and ``tmp_path/masks/<i>.png`` from PIL images; returns both folders."""
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "masks").mkdir(exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks)):
        image.save(tmp_path / "images" / f"{i}.png")
        mask.save(tmp_path / "masks" / f"{i}{mask_suffix}")
    return tmp_path / "images", tmp_path / "masks"


def _gray_photo(height=8, width=8, value=120):
    return Image.fromarray(np.full((height, width, 3), value, np.uint8))


def _square_mask(height=8, width=8, top=2, left=2, side=4, on=255):
    mask = np.zeros((height, width), np.uint8)
    mask[top:top + side, left:left + side] = on
    return mask


# ----------------------------------------------------------------------------- 3: NaN / inf / out-of-range pixels


def test_3_a_float_image_with_a_nan_pixel_is_refused_naming_the_file(tmp_path):
    pixels = np.full((6, 5), 0.5, np.float32)
    Image.fromarray(pixels).save(tmp_path / "fine.tif")
    assert image_files.load_rgb(tmp_path / "fine.tif").mean() == 128.0  # [0, 1] is scaled by 255, not left dark
    pixels[2, 3] = np.nan
    Image.fromarray(pixels).save(tmp_path / "nan.tif")
    with pytest.raises(DatasetError, match=r"nan\.tif holds 1 NaN or infinite pixel value\(s\) \(the first at row 2, "
                                           r"column 3\)"):
        image_files.load_rgb(tmp_path / "nan.tif")
    pixels[2, 3] = np.inf
    Image.fromarray(pixels).save(tmp_path / "inf.tif")
    with pytest.raises(DatasetError, match=r"inf\.tif holds 1 NaN or infinite"):
        image_files.load_rgb(tmp_path / "inf.tif")


def test_3_a_float_image_outside_0_1_is_refused_not_clipped(tmp_path):
    pixels = np.full((6, 5), 0.5, np.float32)
    pixels[0, 0] = 40.0  # far above 1: used to clip to white
    Image.fromarray(pixels).save(tmp_path / "bright.tif")
    with pytest.raises(DatasetError, match=r"bright\.tif is a floating-point image with values 0\.5\.\.40; "
                                           r"floating-point images must lie in \[0, 1\]"):
        image_files.load_rgb(tmp_path / "bright.tif")


# ----------------------------------------------------------------------------- 4: 16-bit labels and masks


def test_4_a_16_bit_label_map_keeps_its_ids_so_id_300_is_refused(tmp_path):
    labels = np.zeros((8, 8), np.uint16)
    labels[:4] = 3
    labels[0, 0] = 300
    images, folder = _pair_folders(tmp_path, [_gray_photo()], [Image.fromarray(labels)])
    assert image_files.load_label_map(folder / "0.png").max() == 300  # stored ids, not rescaled to {0, 1}
    with pytest.raises(DatasetError, match=r"label map .*0\.png holds class id\(s\) \{300\}"):
        data.load_paired_folder(images, folder, (8, 8), binary=False, n_classes=11, void_id=11)


def test_4_a_16_bit_mask_with_values_0_and_256_keeps_its_object(tmp_path):
    mask = _square_mask(on=1).astype(np.uint16) * 256
    images, folder = _pair_folders(tmp_path, [_gray_photo()], [Image.fromarray(mask)])
    loaded = data.load_paired_folder(images, folder, (8, 8), binary=True)
    assert loaded.targets[0].sum() == 16 and loaded.targets[0][2:6, 2:6].all()  # was 0: all background


def test_4_a_16_bit_antialiased_mask_follows_the_8_bit_rule_on_its_own_scale(tmp_path):
    mask = _square_mask().astype(np.uint16) * 257  # 0 / 65535
    mask[2, 2] = 30000  # one antialiased edge pixel below the midpoint
    assert image_files.binarise_mask(mask).sum() == 15


# ----------------------------------------------------------------------------- 6: masks that lose the object


def test_6_all_background_masks_are_counted_and_named_in_a_warning(tmp_path):
    masks = [Image.fromarray(_square_mask()), Image.fromarray(np.zeros((8, 8), np.uint8)),
             Image.fromarray(np.zeros((8, 8), np.uint8))]
    images, folder = _pair_folders(tmp_path, [_gray_photo()] * 3, masks)
    with pytest.warns(DatasetWarning, match=r"2 of 3 masks in .*masks mark no salient pixel \(all background\): "
                                            r"1\.png, 2\.png"):
        loaded = data.load_paired_folder(images, folder, (8, 8), binary=True)
    assert len(loaded) == 3  # kept (PASCAL-S holds five such masks), but never silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_paired_folder(images, folder, (8, 8), binary=True, indices=[0])  # no warning without one


def test_6_an_rgba_mask_with_the_object_in_alpha_is_read_by_its_visible_shape(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)  # black everywhere; the object is where it is opaque
    rgba[..., 3] = _square_mask()
    images, folder = _pair_folders(tmp_path, [_gray_photo()], [Image.fromarray(rgba)])
    loaded = data.load_paired_folder(images, folder, (8, 8), binary=True)
    assert loaded.targets[0].sum() == 16 and loaded.targets[0][2:6, 2:6].all()  # was: all background
    rgba[..., :3] = np.arange(8, dtype=np.uint8)[:, None, None] * 30  # gray levels *and* alpha: ambiguous
    Image.fromarray(rgba).save(folder / "0.png")
    with pytest.raises(DatasetError, match=r"0\.png carries values both in its gray levels and in its transparency"):
        data.load_paired_folder(images, folder, (8, 8), binary=True)


def test_6_a_palette_mask_is_read_through_its_palette_not_by_index(tmp_path):
    index = np.ones((8, 8), np.uint8)  # background: index 1, object: index 0
    index[2:6, 2:6] = 0
    mask = Image.new("P", (8, 8))
    mask.putdata(index.ravel().tolist())
    mask.putpalette([255, 255, 255, 0, 0, 0] + [0, 0, 0] * 254)  # index 0 shows white, 1 black
    images, folder = _pair_folders(tmp_path, [_gray_photo()], [mask])
    loaded = data.load_paired_folder(images, folder, (8, 8), binary=True)
    assert loaded.targets[0].sum() == 16 and loaded.targets[0][2:6, 2:6].all()  # by index it was inverted
    assert image_files.load_label_map(folder / "0.png").max() == 1  # a palette *label map* keeps its indices


# ----------------------------------------------------------------------------- 12: EXIF orientation


def _rotated_exif(image: Image.Image, path, orientation=6):
    exif = Image.Exif()
    exif[image_files.EXIF_ORIENTATION] = orientation
    image.save(path, exif=exif)
    return path


def test_12_exif_orientation_is_honoured_for_images_and_masks(tmp_path):
    # displayed: 6 rows x 4 columns, with the object (and a red mark) in the top-left 2x2 block
    displayed = np.full((6, 4, 3), 100, np.uint8)
    displayed[:2, :2] = (255, 0, 0)
    stored = Image.fromarray(displayed).transpose(Image.Transpose.ROTATE_90)  # stored turned, tag 6 turns it back
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    _rotated_exif(stored, tmp_path / "images" / "0.png")
    assert np.array_equal(image_files.load_rgb(tmp_path / "images" / "0.png"), displayed)  # was read unrotated
    shown_mask = np.zeros((6, 4), np.uint8)
    shown_mask[:2, :2] = 255
    Image.fromarray(shown_mask).save(tmp_path / "masks" / "0.png")  # mask drawn on the displayed photo
    loaded = data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (6, 4), binary=True)
    assert loaded.targets[0][:2, :2].all() and loaded.targets[0].sum() == 4
    assert (loaded.images[0][loaded.targets[0] == 1] == (255, 0, 0)).all()  # the mask sits on the red mark
    _rotated_exif(Image.fromarray(shown_mask).transpose(Image.Transpose.ROTATE_90), tmp_path / "masks" / "0.png")
    assert np.array_equal(image_files.load_label_map(tmp_path / "masks" / "0.png"), shown_mask)  # masks alike
