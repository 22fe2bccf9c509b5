"""Table 6: the position readout on frozen encoders trained for different tasks.

The encoders of notebook 05's task networks (registered as the backbone ``vggsmall``) are
probed with notebook 02's protocol, next to the same encoder at random initialisation, and
a same-architecture pair of real networks: VGG16 trained for ImageNet classification
(original Caffe weights) and the same VGG16 fine-tuned for edge detection (HED). The
paper's claim 8 compares a pixel-task network with a classification network of the same
architecture, so only such pairs (:data:`SAME_ARCHITECTURE_PAIRS`) test it;
EfficientNet-Lite0 (ImageNet) is shown for reference.
"""

from __future__ import annotations

from ..features import FeatureConfig
from ..probing import ProbedRows, ProbeImages, probe_rows
from ..readout import ReadoutConfig
from ..training import TrainedModel

#: Real networks of Table 6: (model name, task, backbone, weights).
REFERENCE_NETWORKS = (
    ("vgg16/imagenet-caffe", "classification", "vgg16", "imagenet-caffe"),
    ("vgg16/hed", "edge detection", "vgg16", "hed"),
    ("efficientnet-lite0/imagenet", "classification", "efficientnet-lite0", "imagenet"),
)
#: (architecture, pixel-task model, classification model) pairs that test claim 8.
SAME_ARCHITECTURE_PAIRS = (("VGG16", "vgg16/hed", "vgg16/imagenet-caffe"),)


def table6_configs(trained: dict[str, dict[str, TrainedModel]], padding_rules, input_size: int) -> list[dict]:
    """Rows of Table 6: the trained task encoders, the same encoder at random init, :data:`REFERENCE_NETWORKS`.

    Parameters
    ----------
    trained : dict
        ``task -> padding rule -> TrainedModel``.
    padding_rules : iterable of str
        Which padding variants to probe.
    input_size : int
        Input side of the probing images.

    Returns
    -------
    list of dict
        ``{"model", "task", "padding", "config"}`` with a :class:`poslib.features.FeatureConfig`.
    """
    rows = []
    for task, models in trained.items():
        for rule in padding_rules:
            if rule in models:
                rows.append({"model": f"vggsmall-{task}/{rule}", "task": task, "padding": rule,
                             "config": FeatureConfig("vggsmall", str(models[rule].weights_path), padding=rule,
                                                     input_size=input_size)})
    rows.append({"model": "vggsmall/random", "task": "random init", "padding": "zeros",
                 "config": FeatureConfig("vggsmall", "random", input_size=input_size)})
    for model, task, backbone, weights in REFERENCE_NETWORKS:
        rows.append({"model": model, "task": task, "padding": "zeros",
                     "config": FeatureConfig(backbone, weights, input_size=input_size)})
    return rows


def probe_table6(rows: list[dict], images: ProbeImages, readout: ReadoutConfig, seeds,
                 progress: bool = True) -> ProbedRows:
    """Probe each row of :func:`table6_configs` with notebook 02's protocol.

    Returns
    -------
    ProbedRows
        ``per_image`` has the extra columns model and task, and the weights identity of each row.
    """
    result = probe_rows([row["config"] for row in rows], images, readout, seeds,
                        labels=[{"model": row["model"], "task": row["task"]} for row in rows], progress=progress)
    identities = {config.backbone + config.weights: bundle.weights_id
                  for config, (bundle, _) in result.probed.items()}
    result.per_image = result.per_image.assign(
        weights=(result.per_image["backbone"] + result.per_image["weights"]).map(identities))
    return result
