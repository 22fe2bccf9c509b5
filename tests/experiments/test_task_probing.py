"""poslib.experiments.task_probing: Table 6's rows and its summary over seed pairs."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from poslib.experiments import task_probing


def fake_trained(task, seeds):
    return [SimpleNamespace(config=SimpleNamespace(seed=s), weights_path=Path(f"/tmp/{task}{s}.pt")) for s in seeds]


def test_rows_cover_every_training_seed_and_name_the_architecture():
    trained = {task: {"zeros": fake_trained(task, (0, 1)), "valid": fake_trained(task, (0, 1))}
               for task in ("saliency", "segmentation", "classification")}
    rows = task_probing.table6_configs(trained, ("zeros",), 96, random_seeds=(0, 1), readout_seeds=(0, 1, 2))
    models = [(r["model"], r["train_seed"]) for r in rows]
    assert ("vggsmall-saliency/zeros", 1) in models and ("vggsmall/random", 1) in models
    assert not any("valid" in m for m, _ in models)
    by_model = {r["model"]: r for r in rows}
    assert by_model["vgg16/hed"]["readout_seeds"] == (0, 1, 2) and by_model["vgg16/hed"]["architecture"] == "VGG16"
    assert by_model["vggsmall-classification/zeros"]["readout_seeds"] == (0,)
    for _, pixel_model, classifier in task_probing.SAME_ARCHITECTURE_PAIRS:
        assert by_model[pixel_model]["architecture"] == by_model[classifier]["architecture"]


def test_summary_counts_training_and_readout_seed_pairs():
    per_image = pd.DataFrame({
        "model": "m", "task": "t", "architecture": "a", "padding_rule": "zeros", "test_set": "s", "pattern": "H",
        "train_seed": [0, 0, 1, 1], "seed": [0, 0, 0, 0], "image": [0, 1, 0, 1],
        "spc": [0.5, 0.7, 0.8, 1.0], "mae": 0.1, "constant": False})
    summary = task_probing.summarise_table6(per_image).iloc[0]
    assert summary["n_seeds"] == 2 and summary["spc"] == 0.75
    assert abs(summary["spc_std"] - pd.Series([0.6, 0.9]).std()) < 1e-12
