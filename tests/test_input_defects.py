"""Issue 23: the input paths a careful user with odd files can reach, each closed with a message or the right number.

One test (or a few) per defect of the issue, numbered as there; every input is a small synthetic
file made in ``tmp_path``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

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


# ----------------------------------------------------------------------------- 1, 2, 5: what the inputs hash covers


def _fingerprint(notebook, data_root, overrides):
    from poslib import run_inputs

    return run_inputs.input_fingerprint(notebook, "smoke", data_root, overrides)["parts"]["data"]


def _flip_every_image(folder):
    for path in folder.glob("*.png"):
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)


def test_1_a_p_folder_outside_the_data_root_is_part_of_the_inputs_hash(tmp_path):
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text("{}")
    root, outside = tmp_path / "data", tmp_path / "elsewhere" / "photos"
    (root / "SOD" / "images").mkdir(parents=True)
    outside.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.arange(24, dtype=np.uint8).reshape(4, 6) * (i + 1)).save(outside / f"{i}.png")
    for data_root in (root, None):  # with a data root, and on the embedded default
        before = _fingerprint(notebook, data_root, {"test_images": str(outside)})
        assert before == _fingerprint(notebook, data_root, {"test_images": str(outside)})
        _flip_every_image(outside)
        assert _fingerprint(notebook, data_root, {"test_images": str(outside)}) != before  # was "kept (unchanged)"
    # a dataset name under the data root, or no folder at all, leaves the data part as it was
    assert _fingerprint(notebook, root, {"test_images": "SOD", "seed": 1}) == _fingerprint(notebook, root, {})


def test_2_a_symlinked_dataset_folder_is_hashed_by_its_content_and_cycles_end(tmp_path, capsys):
    from poslib import run_inputs

    root, target = tmp_path / "data", tmp_path / "disk2" / "ECSSD"
    (target / "images").mkdir(parents=True)
    (root / "SOD").mkdir(parents=True)
    (root / "SOD" / "a.jpg").write_bytes(b"sod")
    (target / "images" / "b.jpg").write_bytes(b"ecssd")
    (root / "ECSSD").symlink_to(target, target_is_directory=True)
    (target / "images" / "loop").symlink_to(root, target_is_directory=True)  # a cycle back to the data root
    files, skipped = run_inputs._regular_files(root)
    assert [name for name, _ in files] == ["ECSSD/images/b.jpg", "SOD/a.jpg"] and skipped == []
    before = run_inputs.data_fingerprint(root)
    (target / "images" / "b.jpg").write_bytes(b"ECSSD")  # an edit behind the link
    assert run_inputs.data_fingerprint(root) != before  # os.walk did not follow the link: edits were not seen
    assert capsys.readouterr().out == ""


FINGERPRINT_WITH_A_FIFO = """
import sys
from pathlib import Path
from poslib.run_inputs import data_fingerprint
print("hash", data_fingerprint(Path(sys.argv[1])))
"""


def test_5_a_fifo_in_the_data_folder_is_skipped_with_a_notice_never_opened(tmp_path):
    import os
    import subprocess
    import sys

    from poslib.config import REPO_ROOT

    root = tmp_path / "data"
    (root / "SOD" / "images").mkdir(parents=True)
    (root / "SOD" / "images" / "a.jpg").write_bytes(b"photo")
    os.mkfifo(root / "SOD" / "images" / "pipe.jpg")  # opening it for reading would wait for a writer forever
    try:
        done = subprocess.run([sys.executable, "-c", FINGERPRINT_WITH_A_FIFO, str(root)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail("the data fingerprint hung on a FIFO")
    assert done.returncode == 0, done.stderr
    assert ("[poslib] inputs hash of the data folder: skipped SOD/images/pipe.jpg (a FIFO, never opened)"
            in done.stdout)
    from poslib import run_inputs

    (root / "SOD" / "images" / "pipe.jpg").unlink()
    assert f"hash {run_inputs.data_fingerprint(root)}" in done.stdout  # the FIFO adds nothing to the hash
    (root / "devices").symlink_to("/dev", target_is_directory=True)  # as --data / would meet /dev
    files, skipped = run_inputs._regular_files(root)
    assert [name for name, _ in files] == ["SOD/images/a.jpg"]
    assert skipped == ["devices (system folder /dev, never read)"]
    assert run_inputs._regular_files(Path("/proc")) == ([], ["/proc (system folder, never read)"])


# ----------------------------------------------------------------------------- 7: corrupt provenance


def test_7_a_corrupt_provenance_record_is_named_set_aside_and_its_notebook_re_run(tmp_path, capsys):
    import json

    from poslib import run_inputs, runner

    provenance = tmp_path / "provenance"
    provenance.mkdir()
    (provenance / "01_x.json").write_text(json.dumps({"notebook": "01_x", "title": "Fine"}))
    (provenance / "03_y.json").write_text('{"notebook": "03_y", "title": "trunc')
    (provenance / "04_z.json").write_text("[]")
    assert runner.main(["index", "--out", str(tmp_path)]) == 0  # was: error: Unterminated string ..., exit 2
    out = capsys.readouterr().out
    assert ("[poslib] provenance/03_y.json cannot be read (not valid JSON: Unterminated string starting at: line 1 "
            "column 31 (char 30)); set aside as provenance/03_y.json.corrupt. 03_y counts as not run" in out)
    assert "provenance/04_z.json cannot be read (a JSON list, not a record naming its notebook)" in out
    assert (provenance / "03_y.json.corrupt").exists() and not (provenance / "03_y.json").exists()
    assert "## Fine" in (tmp_path / "README.md").read_text()
    record = run_inputs.read_record(tmp_path, "03_y")
    assert record is None and run_inputs.unchanged_reason(record, {"hash": "h", "parts": {}}, tmp_path) == \
        "no previous run"
    bad_inputs = {"notebook": "01_x", "inputs": [], "artefacts": "x"}  # a record with wrong types: re-run
    assert run_inputs.unchanged_reason(bad_inputs, {"hash": "h", "parts": {}}, tmp_path).startswith("no inputs hash")


# ----------------------------------------------------------------------------- 8: cache meta.json not a record


@pytest.mark.parametrize("meta, reason", [
    (None, "meta.json holds a JSON NoneType, not a cache record"),
    ([], "meta.json holds a JSON list, not a cache record"),
    ({"files": {}}, "meta.json records no payload file with its size and checksum"),
    ({"files": {"data.bin": {"bytes": 10}}}, "meta.json has no well-formed size and checksum for 'data.bin'"),
    ({"files": {"other.bin": {"bytes": 1, "crc32": "00000000"}}}, "payload data.bin has no checksum in meta.json"),
])
def test_8_a_meta_json_that_is_not_a_well_formed_record_rebuilds_the_entry(tmp_path, capsys, meta, reason):
    import json

    from poslib import store

    entry = store.CacheEntry("demo", "k" * 64, 1, root=tmp_path)
    entry.begin()
    entry.write_bytes("data.bin", b"0123456789")
    entry.finish({})
    if isinstance(meta, dict):
        meta = {"format": 1, "key": "k" * 64, **meta}
    (entry.folder / "meta.json").write_text(json.dumps(meta))
    assert entry.read() is None  # was: AttributeError / TypeError, or "verified" with no checksum at all
    assert f"[poslib] rebuilding cache entry demo/kkkkkkkkkkkk: {reason}" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 11: an emptied test set


def test_11_near_duplicate_removal_that_empties_the_test_set_names_both_settings_and_the_count(tmp_path):
    from poslib import probing
    from poslib.config import get_profile

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(np.kron(rng.integers(0, 256, (6, 6, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(
            folder / f"{i}.png")
    with pytest.raises(DatasetError, match=r"left no test image: all 3 of 3 test images were removed \(e\.g\. test 0 "
                                           r"matches training 0 at 0 bits\)\. The training and test image settings "
                                           r"\(train_images and test_images"):
        probing.prepare_images(get_profile("smoke"), "", str(folder), str(folder))  # was: need at least one array


# ----------------------------------------------------------------------------- 10, 13: console and kernel


NOISY = ("print('[poslib] rebuilding cache entry demo/abc: meta.json holds a JSON list, not a cache record')\n"
         "import warnings\nwarnings.warn('2 of 3 masks mark no salient pixel')\n"
         "import pandas as pd\npd.DataFrame({'shown': ['only in the notebook']})\n")


def _notebook(path, code):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('profile = "default"\ndata_root = ""\nresults_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Test"), parameters, nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)
    return path


def test_10_notebook_notices_and_warnings_reach_the_console_one_line_each_and_kernel_noise_does_not(tmp_path, capfd):
    from poslib import runner

    notebook = _notebook(tmp_path / "96_noisy.ipynb", NOISY)
    runner.run_notebook(notebook, "smoke", "", tmp_path / "out", log_output=True)
    out, err = capfd.readouterr()
    assert out.count("  [96] [poslib] rebuilding cache entry demo/abc: meta.json holds a JSON list") == 1  # was: 0
    assert err.count("  [96] UserWarning: 2 of 3 masks mark no salient pixel\n") == 1
    assert "warnings.warn(" not in err and "only in the notebook" not in out  # one line each; no tables
    for noise in ("without encryption", "KeyboardInterrupt caught", "IPKernelApp"):
        assert noise not in out + err
    runner.run_notebook(notebook, "smoke", "", tmp_path / "out", log_output=False)  # --quiet
    out, err = capfd.readouterr()
    assert out + err == ""


def test_13_the_kernel_connection_file_lives_in_the_staging_folder_not_the_temporary_folder(tmp_path, capfd):
    from poslib import runner

    where = tmp_path / "connection.txt"
    notebook = _notebook(tmp_path / "95_where.ipynb", "from ipykernel import get_connection_file\n"
                                                      f"open({str(where)!r}, 'w').write(get_connection_file())")
    out_root = tmp_path / "out"
    runner.run_notebook(notebook, "smoke", "", out_root, log_output=False)
    connection = Path(where.read_text())
    staging = connection.parent.parent
    assert connection.parent.name == ".kernel" and staging.parent == out_root
    assert staging.name.startswith(".staging-95_where-")  # a killed run's staging folder is removed by the next run
    assert not staging.exists()  # and a finished run leaves nothing
