"""Table 6: the position readout on frozen encoders trained for different tasks.

The encoders of notebook 05's task networks (registered as the backbone ``vggsmall``:
saliency, segmentation, and classification distilled from EfficientNet-Lite0, every
training seed) are probed with notebook 02's protocol, next to the same encoder at random
initialisation, and a same-architecture pair of real networks: VGG16 trained for ImageNet classification
(original Caffe weights) and the same VGG16 fine-tuned for edge detection (HED). The
paper's claim 8 compares a pixel-task network with a classification network of the same
architecture, so only such pairs (:data:`SAME_ARCHITECTURE_PAIRS`) test it;
EfficientNet-Lite0 (ImageNet) is shown for reference.
"""

from __future__ import annotations

import pandas as pd

from ..config import Profile
from ..features import FeatureConfig
from ..probing import ProbedRows, ProbeImages, probe_rows, readout_config_for
from ..tables import summarise
from ..readout import ReadoutConfig
from ..training import TrainedModel

#: Real networks of Table 6: (model name, task, backbone, weights).
REFERENCE_NETWORKS = (
    ("vgg16/imagenet-caffe", "classification", "vgg16", "imagenet-caffe"),
    ("vgg16/hed", "edge detection", "vgg16", "hed"),
    ("efficientnet-lite0/imagenet", "classification", "efficientnet-lite0", "imagenet"),
)
#: Architecture named in Table 6 for each backbone.
ARCHITECTURES = {"vggsmall": "small VGG", "vgg16": "VGG16", "efficientnet-lite0": "EfficientNet-Lite0"}
#: Columns of the published Table 6.
TABLE6_COLUMNS = ["model", "task", "architecture", "padding_rule", "test_set", "pattern", "spc", "spc_std", "mae", "mae_std",
                  "n_seeds", "n_images"]
#: (architecture, pixel-task model, classification model) pairs that test claim 8.
SAME_ARCHITECTURE_PAIRS = (
    ("small VGG", "vggsmall-saliency/zeros", "vggsmall-classification/zeros"),
    ("small VGG", "vggsmall-segmentation/zeros", "vggsmall-classification/zeros"),
    ("VGG16", "vgg16/hed", "vgg16/imagenet-caffe"),
)


def table6_configs(trained: dict[str, dict[str, list[TrainedModel]]], padding_rules, input_size: int,
                   random_seeds=(0,), readout_seeds=(0,)) -> list[dict]:
    """Rows of Table 6: the trained task encoders (every training seed), the same encoder at random
    initialisation (one row per seed), and :data:`REFERENCE_NETWORKS`.

    Parameters
    ----------
    trained : dict
        ``task -> padding rule -> [TrainedModel, one per training seed]``.
    padding_rules : iterable of str
        Which padding variants to probe.
    input_size : int
        Input side of the probing images.
    random_seeds : iterable of int
        Initialisation seeds of the random-init rows.
    readout_seeds : iterable of int
        Readout seeds of the reference networks (one network each, so their spread is the
        readout's); the small-VGG rows already vary by training seed and use the first only.

    Returns
    -------
    list of dict
        ``{"model", "task", "architecture", "padding_rule", "train_seed", "readout_seeds", "config"}``
        with a :class:`poslib.features.FeatureConfig`.
    """
    rows = []
    for task, models in trained.items():
        for rule in padding_rules:
            for trained_model in models.get(rule, []):
                rows.append({"model": f"vggsmall-{task}/{rule}", "task": task, "padding_rule": rule,
                             "train_seed": trained_model.config.seed,
                             "config": FeatureConfig("vggsmall", str(trained_model.weights_path), padding_rule=rule,
                                                     input_size=input_size)})
    for seed in random_seeds:
        rows.append({"model": "vggsmall/random", "task": "random init", "padding_rule": "zeros", "train_seed": seed,
                     "config": FeatureConfig("vggsmall", "random", input_size=input_size, backbone_seed=seed)})
    for model, task, backbone, weights in REFERENCE_NETWORKS:
        rows.append({"model": model, "task": task, "padding_rule": "zeros", "train_seed": 0,
                     "config": FeatureConfig(backbone, weights, input_size=input_size)})
    readout_seeds = tuple(readout_seeds)
    for row in rows:
        row["architecture"] = ARCHITECTURES[row["config"].backbone]
        row["readout_seeds"] = readout_seeds if row["model"] in {r[0] for r in REFERENCE_NETWORKS} else readout_seeds[:1]
    return rows


def probe_table6(rows: list[dict], images: ProbeImages, readout: ReadoutConfig, progress: bool = True) -> ProbedRows:
    """Probe each row of :func:`table6_configs` with notebook 02's protocol and its readout seeds.

    Returns
    -------
    ProbedRows
        ``per_image`` has the extra columns model, task, architecture and train_seed, and the
        weights identity of each row.
    """
    parts = []
    for seeds in dict.fromkeys(row["readout_seeds"] for row in rows):
        group = [row for row in rows if row["readout_seeds"] == seeds]
        labels = [{key: row[key] for key in ("model", "task", "architecture", "train_seed")} for row in group]
        parts.append(probe_rows([row["config"] for row in group], images, readout, seeds, labels=labels,
                                progress=progress))
    result = ProbedRows(pd.concat([p.per_image for p in parts if len(p.per_image)], ignore_index=True),
                        [skip for p in parts for skip in p.skipped],
                        {config: value for p in parts for config, value in p.probed.items()})
    identities = {config.backbone + config.weights: bundle.weights_id
                  for config, (bundle, _) in result.probed.items()}
    result.per_image = result.per_image.assign(
        weights=(result.per_image["backbone"] + result.per_image["weights"]).map(identities))
    return result


def summarise_table6(per_image: pd.DataFrame) -> pd.DataFrame:
    """Table 6: mean and spread over every (training seed, readout seed) pair of a model.

    The seeds of a task encoder's training (or of a random initialisation) and of its
    readouts are both sources of spread, so ``n_seeds`` counts their pairs.
    """
    paired = per_image.assign(seed=per_image["train_seed"].astype(str) + "/" + per_image["seed"].astype(str))
    return summarise(paired, by=["model", "task", "architecture", "padding_rule", "test_set", "pattern"])


def probe_task_encoders(profile: Profile, images: ProbeImages, trained: dict[str, dict[str, list[TrainedModel]]],
                        progress: bool = True) -> tuple[list[dict], ProbedRows]:
    """Table 6's probing: every row of :func:`table6_configs` with the profile's readout.

    Parameters
    ----------
    profile : Profile
        Gives the input size, the readout (:func:`poslib.probing.readout_config_for`) and
        :attr:`poslib.config.Profile.tasks` (``probe_padding_rules``, ``training_seeds`` for the
        random-init rows, ``probe_seeds``).
    images : ProbeImages
    trained : dict
        ``task -> padding rule -> [TrainedModel]`` (notebook 05's networks).
    progress : bool

    Returns
    -------
    rows : list of dict
        :func:`table6_configs`.
    probed : ProbedRows
        :func:`probe_table6` (summarise with :func:`summarise_table6`).
    """
    settings = profile.tasks
    rows = table6_configs(trained, settings.probe_padding_rules, profile.input_size,
                          random_seeds=settings.training_seeds, readout_seeds=settings.probe_seeds)
    return rows, probe_table6(rows, images, readout_config_for(profile), progress=progress)


def weights_records(rows: list[dict], probed: ProbedRows) -> list[str]:
    """``model (seed s): weights identity`` of every Table-6 row that ran (provenance)."""
    return [f"{row['model']} (seed {row['train_seed']}): {probed.probed[row['config']][0].weights_id}"
            for row in rows if row["config"] in probed.probed]
