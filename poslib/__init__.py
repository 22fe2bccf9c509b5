"""poslib: how much position information do CNNs encode?

Where to start
--------------
* ``poslib.probe(model, taps=[...])``: measure position in any ``torch.nn.Module`` (taps are
  torchvision feature-extraction node names; ``poslib.api.tap_names(model)`` lists them);
  returns a report with per-image rows, a summary and ``.table()`` (SPC per tap and target).
  ``images="smoke"`` gives a quick look on the embedded photos; README.md, "Quick start from
  Python", has a runnable example.
* ``poslib.probe_backbone("vgg16", "imagenet-caffe")``: the same for the study's backbones.
* ``poslib.position_share(features_or_model, images)``: the probe-free measure (share of a
  channel's variance that is a fixed map over positions).
* The study itself: ``python -m poslib run --profile smoke`` renders the notebooks.

These three names are loaded on first use (``import poslib`` stays light).

A small library behind the numbered notebooks of this repository; one module per concept:

``config``
    profiles (the one source of every notebook's run sizes), seeding, devices, progress
    bars, folders and the names of things.
``store``
    atomic writes and content-keyed, checksummed cache entries (features and trained weights).
``patterns``
    the five position targets (H, V, G, HS, VS) and the synthetic inputs.
``image_files``
    reading images, masks and label maps, with their checks.
``image_set``
    the image set: RGB images at the input size with ids, source and fingerprint.
``data``
    image set loaders and paired (image, mask / label) sets, the data root.
``embedded``
    the embedded default: photos that installed packages ship, cut into crops.
``near_duplicates``
    perceptual hashes, so no test image is a training image.
``task_data``
    the saliency (ECSSD, SOD) and segmentation (CamVid) data of notebook 05.
``scenes``
    generated saliency / segmentation scenes (notebook 05 without datasets).
``backbones``
    the backbone registry, weights files, random inits, backbone classes and labels.
``networks``
    the frozen CNNs with multi-level taps f1..f5 (VGG16, ResNet-152, EfficientNet-Lite0, pixels).
``vgg_ports``
    the original Caffe ImageNet VGG16 and HED, ported from installed packages.
``padding``
    the padding rules and the one function that changes a model's padding.
``segnet``
    notebook 05's encoder-decoder, and its encoder registered as the backbone ``vggsmall``.
``features``
    run a frozen backbone once per image and configuration; cache the taps on disk.
``readout``
    the PosENet readout, five targets trained in one pass (a package: ``model``, ``inputs``,
    ``fast``, ``training``; every name re-exported by ``poslib.readout``).
``training``
    training the task networks from scratch, their weight cache, predictions and scores.
``metrics``
    SPC / MAE per image, F-measure and MAE for saliency, confusion matrix and IoU.
``probing``
    the probing protocol: features -> readouts over seeds -> tidy per-image rows; the one
    row runner with typed skip records.
``tables``
    summary tables from those rows: means over images, the one aggregation over seeds,
    backbone classes.
``experiments``
    one module per further question: ``layerwise`` (nb03), ``padding_study`` (nb04),
    ``frame_shift`` and ``task_probing`` (nb05), ``absolute_location``, ``gap_position``,
    ``padding_parity`` and ``input_size`` (nb06).
``reference``
    the paper's numbers and the one join of measured rows with them.
``claims``
    the paper's claims checked against measured tables; every threshold lives here.
``report``
    tables, figures, plotting style and provenance of one notebook run.
``notebook``
    the one setup call of every notebook and its closing verdict cell.
``runner``
    the papermill driver and the generated results index.
``run_inputs``
    ``-p`` parameters checked against the notebooks' declared ones; the inputs hash of incremental runs.
``publish``
    atomic publishing of a notebook's results, the run lock, clean-up after killed runs.
``bench``
    the benchmark of the cached design.
``api``
    :func:`probe` of any network, :func:`probe_backbone`, the model identity that keys its cache.
``position_share``
    the probe-free position measure.
"""

__version__ = "0.2.0"

#: Public names loaded on first use: name -> module.
_LAZY = {"probe": "api", "probe_backbone": "api", "ProbeReport": "api", "position_share": "position_share"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Load :data:`_LAZY`'s names on first use, so ``import poslib`` does not import torch."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
