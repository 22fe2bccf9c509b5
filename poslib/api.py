"""Probe any network: :func:`probe` measures the position information in a ``torch.nn.Module``.

The study's protocol (cached features -> PosENet readouts over seeds -> per-image SPC / MAE
-> summary) applied to *your* network, without editing poslib::

    import torchvision, poslib
    report = poslib.probe(torchvision.models.resnet18(), taps=["layer1", "layer3"], images="smoke", input_size=112)
    report.table()          # SPC per tap (rows) and target (columns) on the natural test crops

Taps are node names of torchvision's :func:`~torchvision.models.feature_extraction.create_feature_extractor`
(:func:`tap_names` lists them; a module's name such as ``"layer1"`` is its output). The model
is copied and wrapped into a :class:`poslib.backbones.TappedBackbone` (:func:`tap_model`), so
the feature cache (:func:`poslib.features.extract_features`), the readout training
(:func:`poslib.probing.probe`) and the metrics are the study's own. :func:`probe_backbone`
runs one of the study's registered backbones through the same steps.

What the feature cache key holds
--------------------------------
A model's cache entries are keyed (:func:`poslib.features.cache_key`) by its *identity*
(:func:`model_identity`): a SHA-256 over every parameter, buffer and tensor constant of the
traced extractor (names, dtypes, shapes and bytes), a SHA-256 of its architecture (the model
class, the module tree's ``repr``, which shows e.g. ``padding_mode``, and the traced code of
the forward pass), and one of the preprocessing; plus the taps, the ``name``, the input and
feature size, the images' content fingerprint, the cache format and the torch version. A
changed weight, padding mode, forward pass, tap or preprocessing therefore never reads stale
features. Anything the traced code does not show (a Python global that a custom module reads
at run time, say) is not keyed: give such a model a new ``name``.

(Longer than 400 lines on purpose: tracing a user's model, keying its features on everything
that changes them, and the report must be read together; the probing itself is poslib's own.)
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .backbones import TappedBackbone
from .config import ConfigError, Profile, get_profile
from .data import load_image_folder, synthetic_image_sets
from .embedded import embedded_image_set
from .features import FeatureConfig, cache_key, extract_features
from .image_set import ImageSet
from .patterns import PATTERN_NAMES, check_pattern_names
from .probing import (FeatureBundle, ProbeImages, extract_bundle, probe as probe_bundle, readout_config_for,
                      without_near_duplicates)
from .readout import ReadoutConfig
from .store import tensors_digest
from .tables import summarise

#: Side every tap is resized to before the readout (the paper's 28), or the input side when smaller.
FEATURE_SIZE = 28
#: Profile whose image counts and readout schedule ``images=None`` uses.
DEFAULT_IMAGES = "default"
#: ImageNet's per-channel mean and standard deviation (RGB), for ``preprocess="imagenet"``.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: Value of the ``padding`` column for a user's model: its convolutions pad as it was built.
AS_BUILT = "as-built"


# ----------------------------------------------------------------------------- identity


def _value_text(value) -> str:
    """A stable text of a value a preprocessing function depends on (tensors and arrays by content)."""
    if isinstance(value, torch.Tensor):
        return f"tensor:{tensors_digest([('', value)])}"
    if isinstance(value, np.ndarray):
        return f"array:{value.dtype}:{value.shape}:{hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}"
    if isinstance(value, nn.Module):
        return module_digest(value)
    if isinstance(value, types.FunctionType):
        return _function_digest(value)
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_value_text(v) for v in value) + ")"
    text = repr(value)
    if " at 0x" in text:
        raise ConfigError(f"cannot key {text}: it has no stable identity. Pass preprocessing as a torch.nn.Module "
                          "or a plain function of plain values, tensors or arrays.")
    return text


def module_digest(module: nn.Module) -> str:
    """SHA-256 of a module's class, ``repr`` and tensors (parameters and buffers)."""
    named = [*module.named_parameters(), *module.named_buffers()]
    text = f"{type(module).__module__}.{type(module).__qualname__}|{module!r}|{tensors_digest(named)}"
    return hashlib.sha256(text.encode()).hexdigest()


def _function_digest(function: types.FunctionType) -> str:
    """SHA-256 of a function's code, constants, defaults, closure and the plain globals it names."""
    code = function.__code__
    parts = [function.__qualname__, code.co_code.hex(), _value_text(tuple(c for c in code.co_consts
                                                                          if not isinstance(c, types.CodeType)))]
    parts.append(_value_text(function.__defaults__ or ()))
    parts += [_value_text(cell.cell_contents) for cell in function.__closure__ or ()]
    plain = (int, float, str, bool, tuple, torch.Tensor, np.ndarray)
    parts += [f"{n}={_value_text(function.__globals__[n])}" for n in code.co_names
              if isinstance(function.__globals__.get(n), plain)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class Normalise(nn.Module):
    """Per-channel ``(x - mean) / std`` of an RGB batch in [0, 1], shape (B, 3, H, W).

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel (default: ImageNet's).
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised batch."""
        return (images - self.mean) / self.std


def preprocess_module(preprocess) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The callable a ``preprocess`` setting stands for.

    Parameters
    ----------
    preprocess : None, "imagenet", torch.nn.Module or callable
        None feeds the RGB batch in [0, 1] as it is; ``"imagenet"`` is :class:`Normalise`
        with ImageNet's mean and std; a module or function maps the (B, 3, H, W) float batch
        in [0, 1] to the model's input.
    """
    if preprocess is None:
        return None
    if isinstance(preprocess, str):
        if preprocess != "imagenet":
            raise ConfigError(f"preprocess {preprocess!r}: give None, 'imagenet', a torch.nn.Module or a function")
        return Normalise()
    if not callable(preprocess):
        raise ConfigError(f"preprocess must be callable, not {type(preprocess).__name__}")
    return preprocess


def preprocess_digest(preprocess) -> str:
    """SHA-256 identity of a preprocessing setting (``"none"`` for None).

    Raises
    ------
    ConfigError
        For a callable object without a stable identity (its ``repr`` is a memory address).
    """
    if preprocess is None:
        return "none"
    if isinstance(preprocess, str):
        return hashlib.sha256(preprocess.encode()).hexdigest()
    if isinstance(preprocess, nn.Module):
        return module_digest(preprocess)
    if isinstance(preprocess, types.FunctionType):
        return _function_digest(preprocess)
    return hashlib.sha256(_value_text(preprocess).encode()).hexdigest()


def model_identity(extractor: nn.Module, preprocess=None) -> dict[str, str]:
    """The identity of a tapped model that keys its cached features (module docstring).

    Parameters
    ----------
    extractor : torch.nn.Module
        The traced feature extractor (a ``torch.fx.GraphModule``) or, for a model traced
        by forward hooks, the model.
    preprocess :
        As :func:`preprocess_module`.

    Returns
    -------
    dict
        ``weights`` (SHA-256 over every parameter, buffer and tensor constant),
        ``architecture`` (SHA-256 of class, module tree and traced code) and ``preprocess``.
    """
    named = [*extractor.named_parameters(), *extractor.named_buffers()]
    graph = getattr(extractor, "graph", None)
    if graph is not None:
        held = {name for name, _ in named}
        for node in graph.nodes:
            if node.op == "get_attr" and node.target not in held:
                value = _attribute(extractor, node.target)
                if isinstance(value, torch.Tensor):
                    named.append((node.target, value))
    architecture = f"{type(extractor).__module__}.{type(extractor).__qualname__}|{extractor!r}|" \
                   f"{getattr(extractor, 'code', '')}"
    return {"weights": tensors_digest(named), "architecture": hashlib.sha256(architecture.encode()).hexdigest(),
            "preprocess": preprocess_digest(preprocess)}


def _attribute(module: nn.Module, dotted: str):
    """``module.a.b`` for ``dotted == "a.b"``."""
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


# ----------------------------------------------------------------------------- tapping


def tap_names(model: nn.Module) -> list[str]:
    """The node names of ``model`` that can be tapped (torchvision's eval-mode graph nodes).

    A module's name (a dotted prefix of node names, e.g. ``"layer1"`` for ``"layer1.1.relu_1"``)
    can be tapped too: it gives the output of the module's last node.

    Examples
    --------
    >>> import torchvision
    >>> names = tap_names(torchvision.models.resnet18())
    >>> "layer1.1.relu_1" in names and "fc" in names
    True
    """
    from torchvision.models.feature_extraction import get_graph_node_names

    return list(get_graph_node_names(model)[1])


class _ModelTaps(nn.Module):
    """Preprocessing, then the traced extractor; the taps' maps in order."""

    def __init__(self, extractor: nn.Module, taps: list[str], preprocess):
        super().__init__()
        self.extractor, self.taps, self.preprocess = extractor, list(taps), preprocess

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The taps' maps of a (B, 3, H, W) batch in [0, 1]."""
        if self.preprocess is not None:
            images = self.preprocess(images)
        outputs = self.extractor(images)
        return [outputs[t] for t in self.taps]


def _extractor(model: nn.Module, taps: list[str]) -> nn.Module:
    """torchvision's feature extractor of ``model`` for ``taps`` (every name checked first)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        known = tap_names(model)
    except Exception as error:  # torch.fx raises many types for code it cannot trace
        raise ConfigError(f"torch.fx cannot trace {type(model).__name__} ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}); make its forward pass traceable "
                          "(torchvision.models.feature_extraction documents leaf modules and wrapped functions)"
                          ) from error
    prefixes = {".".join(n.split(".")[:i]) for n in known for i in range(1, n.count(".") + 1)}
    unknown = [t for t in taps if t not in known and t not in prefixes]
    if unknown:
        hints = {t: difflib.get_close_matches(t, sorted(prefixes) + known, n=3) for t in unknown}
        raise ConfigError(f"unknown tap(s) {unknown} (close names: {hints}); the model has {len(known)} nodes, "
                          "listed by poslib.api.tap_names(model) "
                          "(torchvision.models.feature_extraction.get_graph_node_names)")
    return create_feature_extractor(model, return_nodes={t: t for t in taps})


def safe_name(name: str) -> str:
    """``name`` as one cache folder name (letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"


def tap_model(model: nn.Module, taps: str | Sequence[str], *, preprocess=None, input_size: int = 224,
              name: str | None = None) -> TappedBackbone:
    """A frozen copy of ``model`` whose forward pass returns the maps of ``taps``.

    Parameters
    ----------
    model : torch.nn.Module
        Any model that torch.fx can trace (torchvision, timm, your own). It is deep-copied:
        your model keeps its mode, device and ``requires_grad`` flags.
    taps : str or sequence of str
        Node names (:func:`tap_names`); each must give a (B, C, H, W) map.
    preprocess : None, "imagenet", torch.nn.Module or callable
        See :func:`preprocess_module`.
    input_size : int
        Input side at which the taps' channels are measured (once, on a blank image).
    name : str, optional
        Name in tables and in the cache (default: the model's class name).

    Returns
    -------
    TappedBackbone
        ``tap_names`` are the node names, ``weights_id`` the model's identity
        (:func:`model_identity`), ``identity`` that identity as a dict.

    Raises
    ------
    ConfigError
        Unknown taps, a tap that is not a 4-D map, or preprocessing without a stable identity.
    """
    taps = [taps] if isinstance(taps, str) else list(taps)
    if not taps or len(set(taps)) != len(taps):
        raise ConfigError(f"taps must be distinct node names, at least one: {taps}")
    name = name or type(model).__name__
    network = copy.deepcopy(model).cpu().eval()
    extractor = _extractor(network, taps).eval()
    pre = preprocess_module(preprocess)
    identity = model_identity(extractor, preprocess)
    weights_id = (f"model:{name}:weights={identity['weights'][:16]}:arch={identity['architecture'][:16]}"
                  f":pre={identity['preprocess'][:16]}")
    held = _ModelTaps(extractor, taps, pre)
    with torch.inference_mode():
        maps = held(torch.zeros(1, 3, input_size, input_size))
    flat = {t: tuple(m.shape) for t, m in zip(taps, maps) if not isinstance(m, torch.Tensor) or m.dim() != 4}
    if flat:
        raise ConfigError(f"tap(s) {flat} do not give (B, C, H, W) feature maps; tap convolutional nodes")
    backbone = TappedBackbone(safe_name(name), weights_id, taps, [int(m.shape[1]) for m in maps], held, held)
    backbone.display_name, backbone.identity = name, identity
    backbone.tap_sizes(input_size)  # measured here, on the CPU: a model without parameters has no device to ask
    return backbone


@dataclass(frozen=True)
class ModelFeatureConfig(FeatureConfig):
    """A :class:`~poslib.features.FeatureConfig` for a given model (not a registered backbone).

    ``backbone`` is the model's name, ``weights`` the start of its weights digest and
    ``padding`` :data:`AS_BUILT`; the model itself is passed to
    :func:`~poslib.features.extract_features`, whose key adds its full identity.
    """

    def __post_init__(self):
        pass  # the model is given: no registry name or padding rule to check

    @property
    def label(self) -> str:
        """``<name>/sha256:<weights digest>`` (progress bars, messages)."""
        return f"{self.backbone}/{self.weights}"


def model_feature_config(backbone: TappedBackbone, input_size: int) -> ModelFeatureConfig:
    """The feature configuration of a backbone made by :func:`tap_model`."""
    return ModelFeatureConfig(backbone=backbone.name, weights=f"sha256:{backbone.identity['weights'][:12]}",
                              padding_rule=AS_BUILT, input_size=input_size, feature_size=min(FEATURE_SIZE, input_size))


def feature_cache_key(backbone: TappedBackbone, image_set: ImageSet, input_size: int) -> str:
    """The feature cache key of ``backbone`` (from :func:`tap_model`) on ``image_set`` (module docstring)."""
    return cache_key(model_feature_config(backbone, input_size), backbone.weights_id, image_set, backbone.tap_names)


# ----------------------------------------------------------------------------- images


def _with_synthetic(train: ImageSet, candidates: ImageSet, n_test: int, embedded: bool, seed: int) -> ProbeImages:
    """Training set, test candidates without near-duplicates of it, and the Black / White / Noise sets."""
    test, removed = without_near_duplicates(train, candidates, n_test, seed)
    size = train.images.shape[1]
    return ProbeImages(train, [test] + synthetic_image_sets(size, seed), embedded, removed)


def probe_images(images=None, input_size: int = 224, seed: int = 0) -> ProbeImages:
    """The images of a probing run.

    Parameters
    ----------
    images : None, str, ProbeImages or (train folder, test folder)
        None: the embedded default at the ``default`` profile's counts (400 training and
        100 test crops of photos that installed packages ship; no dataset is needed); a
        profile name (``"smoke"``: 24 / 8 crops, ``"default"``, ``"paper"``): the embedded
        default at its counts; a :class:`~poslib.probing.ProbeImages` (e.g. from
        :func:`poslib.probing.prepare_images`) as it is; two folders: every image of each
        (test images that are near-duplicates of training images are dropped). The Black,
        White and Noise test sets are always added (except to a given ``ProbeImages``).
    input_size : int
        Side of the square network input (images are resized to it).
    seed : int
        Seed of the crops and subsets.

    Raises
    ------
    ConfigError
        A ``ProbeImages`` at another size, or an unknown profile name.
    """
    if isinstance(images, ProbeImages):
        size = images.train.images.shape[1]
        if size != input_size:
            raise ConfigError(f"the given images are {size} px but input_size is {input_size}")
        return images
    if isinstance(images, (str, Path)) and Path(images).is_dir():
        raise ConfigError(f"images={str(images)!r} is one folder: give (train folder, test folder), or a profile name")
    if images is None or isinstance(images, str):
        profile = get_profile(images or DEFAULT_IMAGES)
        train = embedded_image_set("train", input_size, profile.n_train or 64, seed)
        candidates = embedded_image_set("test", input_size, max(profile.n_test, 64), seed)
        return _with_synthetic(train, candidates, profile.n_test, True, seed)
    if not isinstance(images, (tuple, list)) or len(images) != 2:
        raise ConfigError(f"images must be None, a profile name, a ProbeImages or (train folder, test folder), "
                          f"not {images!r}")
    train_folder, test_folder = (Path(p) for p in images)
    train = load_image_folder(train_folder, input_size, seed=seed)
    return _with_synthetic(train, load_image_folder(test_folder, input_size, seed=seed), 0, False, seed)


def _profile_for(images, input_size: int) -> Profile:
    """The profile whose readout schedule a run uses (the named one, else ``default``), at ``input_size``."""
    return dataclasses.replace(get_profile(images if isinstance(images, str) else DEFAULT_IMAGES),
                               input_size=input_size)


def readout_for(images, input_size: int, epochs: int | None, readout: ReadoutConfig | None) -> ReadoutConfig:
    """The readout of a run: ``readout`` if given, else the profile's schedule (``epochs`` replacing its epochs)."""
    if readout is not None:
        return dataclasses.replace(readout, target_size=input_size)
    changes = {"epochs": epochs} if epochs else {}
    return readout_config_for(_profile_for(images, input_size), **changes)


# ----------------------------------------------------------------------------- report


@dataclass
class ProbeReport:
    """What :func:`probe` measured.

    Attributes
    ----------
    per_image : pandas.DataFrame
        One row per seed, test set, pattern and image: backbone (the model's name), weights,
        padding, taps (``all`` for every tap together, else the tap), depth, kernel_size,
        readout_padding, seed, test_set, pattern, image, spc, mae, constant.
    summary : pandas.DataFrame
        :func:`poslib.tables.summarise` of ``per_image``: mean over images per seed, then mean
        (``spc``, ``mae``) and standard deviation (``spc_std``, ``mae_std``) over seeds.
    name : str
    taps, tap_channels, tap_sizes : list
        The taps, their channels and their side at the input size.
    weights_id : str
        The identity that keys the cached features.
    cache_keys : dict
        Feature cache key of every image set.
    readout : ReadoutConfig
    images : ProbeImages
    bundle : FeatureBundle
        The cached features (memory-mapped), e.g. for :meth:`position_share`.
    training : dict
        How the readouts were trained (:class:`poslib.probing.ProbeResult`).
    """

    per_image: pd.DataFrame
    summary: pd.DataFrame
    name: str
    taps: list[str]
    tap_channels: list[int]
    tap_sizes: list[int]
    weights_id: str
    cache_keys: dict
    readout: ReadoutConfig
    images: ProbeImages = field(repr=False)
    bundle: FeatureBundle = field(repr=False)
    training: dict = field(default_factory=dict, repr=False)

    def table(self, value: str = "spc", test_set: str | None = None) -> pd.DataFrame:
        """Mean ``value`` over images and seeds: taps as rows, patterns as columns.

        Parameters
        ----------
        value : str
            ``"spc"`` or ``"mae"`` (or their ``_std``).
        test_set : str, optional
            Default: the natural test set.
        """
        test_set = test_set or self.images.natural_test.name
        rows = self.summary[self.summary["test_set"] == test_set]
        table = rows.pivot_table(index="taps", columns="pattern", values=value, sort=False)
        patterns = [p for p in PATTERN_NAMES if p in table.columns]
        return table[patterns].rename_axis(columns=f"{value} on {test_set}")

    def position_share(self, test_set: str | None = None) -> pd.DataFrame:
        """The probe-free position share (:func:`poslib.position_share.position_share`) of the cached test features."""
        from .position_share import position_share

        test_set = test_set or self.images.natural_test.name
        features = next(t for t in self.bundle.tests if t.image_set == test_set)
        return position_share(features)

    def __str__(self) -> str:
        header = (f"{self.name}: taps {self.taps} ({self.tap_channels} channels), readout {self.readout.epochs} "
                  f"epochs, seeds {sorted(self.per_image['seed'].unique().tolist())}")
        return f"{header}\n{self.table().round(3).to_string()}"


def _run(bundle: FeatureBundle, images: ProbeImages, readout: ReadoutConfig, *, name: str, taps: list[str],
         tap_sizes: list[int], targets, seeds, per_tap: bool, progress: bool, cache_keys: dict,
         columns: dict | None = None) -> ProbeReport:
    """Probe a feature bundle with every tap together (and each alone): the one path of :func:`probe` and
    :func:`probe_backbone`."""
    targets = check_pattern_names(targets)
    all_taps = bundle.train.tap_names
    chosen = None if len(taps) > 1 and list(taps) == list(all_taps) else list(taps)
    runs = [chosen] + ([[t] for t in taps] if per_tap and len(taps) > 1 else [])
    frames, training = [], {}
    for run_taps in runs:
        result = probe_bundle(bundle, readout, list(seeds), taps=run_taps, progress=progress)
        frames.append(result.per_image)
        training["+".join(run_taps or ["all"])] = result.training
    per_image = pd.concat(frames, ignore_index=True)
    per_image = per_image[per_image["pattern"].isin(targets)].reset_index(drop=True)
    for column, value in (columns or {}).items():
        per_image[column] = value
    channels = dict(zip(all_taps, bundle.train.tap_channels))
    return ProbeReport(per_image, summarise(per_image), name, list(taps), [channels[t] for t in taps], tap_sizes,
                       bundle.weights_id, cache_keys, readout, images, bundle, training)


def probe(model: nn.Module, taps: str | Sequence[str], images=None, *, targets=PATTERN_NAMES, seeds=(0,),
          preprocess=None, input_size: int = 224, epochs: int | None = None, readout: ReadoutConfig | None = None,
          per_tap: bool = False, progress: bool = True, name: str | None = None) -> ProbeReport:
    """Measure the position information in any network's feature maps with PosENet readouts.

    The model's taps are run once per image set and cached (keyed as the module docstring
    says); readouts for all five targets train together for each seed on the natural
    training images and are tested on the natural test images and on Black, White and Noise.

    Parameters
    ----------
    model : torch.nn.Module
        Any fx-traceable model (copied; yours is not changed).
    taps : str or sequence of str
        Node names (:func:`tap_names`), e.g. ``["layer1", "layer2"]`` for a ResNet.
    images : None, str, ProbeImages or (train folder, test folder)
        See :func:`probe_images`. None: the embedded default at the ``default`` profile's
        counts (400 / 100 crops; with its 77-epoch readouts about 1,000 SGD steps); ``"smoke"``
        for a quick look (24 / 8 crops, 4 epochs).
    targets : sequence of str
        Patterns reported (of H, V, G, HS, VS; all five are trained together anyway).
    seeds : sequence of int
        Readout seeds (initialisation and batch order).
    preprocess : None, "imagenet", torch.nn.Module or callable
        Maps the RGB batch in [0, 1], (B, 3, H, W), to the model's input; None feeds it as it is.
    input_size : int
        Side of the square input.
    epochs : int, optional
        Readout epochs (default: the images' profile's; ``default`` when images are not a profile name).
    readout : ReadoutConfig, optional
        The whole readout configuration (overrides ``epochs``; its ``target_size`` becomes ``input_size``).
    per_tap : bool
        Also probe each tap alone (one readout per tap, as the paper's Table 3).
    progress : bool
        Show progress bars.
    name : str, optional
        The model's name in tables and in the cache (default: its class name).

    Returns
    -------
    ProbeReport
        ``per_image`` and ``summary`` tables; ``table()`` gives SPC per tap and pattern.
    """
    backbone = tap_model(model, taps, preprocess=preprocess, input_size=input_size, name=name)
    probe_set = probe_images(images, input_size)
    config = model_feature_config(backbone, input_size)
    train = extract_features(config, probe_set.train, backbone=backbone, progress=progress)
    tests = [extract_features(config, t, backbone=backbone, progress=progress) for t in probe_set.tests]
    bundle = FeatureBundle(config, train, tests, backbone.weights_id)
    keys = {s.name: feature_cache_key(backbone, s, input_size) for s in [probe_set.train, *probe_set.tests]}
    return _run(bundle, probe_set, readout_for(images, input_size, epochs, readout), name=backbone.display_name,
                taps=backbone.tap_names, tap_sizes=backbone.tap_sizes(input_size), targets=targets, seeds=seeds,
                per_tap=per_tap, progress=progress, cache_keys=keys, columns={"backbone": backbone.display_name})


def probe_backbone(backbone: str, weights: str = "imagenet", images=None, *, taps: Sequence[str] | None = None,
                   padding: str = "zeros", backbone_seed: int = 0, targets=PATTERN_NAMES, seeds=(0,),
                   input_size: int = 224, epochs: int | None = None, readout: ReadoutConfig | None = None,
                   per_tap: bool = False, progress: bool = True) -> ProbeReport:
    """:func:`probe` for one of the study's registered backbones (``vgg16``, ``resnet152``...).

    The same steps and report as :func:`probe`; the features come from
    :func:`poslib.probing.extract_bundle` (the registry's builders, weights and cache).

    Parameters
    ----------
    backbone, weights : str
        A registered backbone and its weights (:func:`poslib.backbones.build_backbone`).
    images :
        As :func:`probe`.
    taps : sequence of str, optional
        Levels to read (``f1``..``f5``; default: all).
    padding : str
        Padding rule of the backbone (:data:`poslib.padding.PADDING_RULES`).
    backbone_seed : int
        Seed of a random initialisation.
    targets, seeds, input_size, epochs, readout, per_tap, progress :
        As :func:`probe`.

    Raises
    ------
    WeightsNotFoundError
        When pretrained weights are not on this machine (the message says where to put them).
    """
    probe_set = probe_images(images, input_size)
    config = FeatureConfig(backbone, weights, padding, input_size, FEATURE_SIZE, backbone_seed)
    bundle = extract_bundle(config, probe_set, progress)
    all_taps = bundle.train.tap_names
    taps = list(taps or all_taps)
    bundle.train.channel_index(taps)  # checks the names
    keys = {s.name: cache_key(config, bundle.weights_id, s, all_taps) for s in [probe_set.train, *probe_set.tests]}
    sizes = dict(zip(all_taps, bundle.train.tap_sizes or [-1] * len(all_taps)))
    return _run(bundle, probe_set, readout_for(images, input_size, epochs, readout), name=config.label, taps=taps,
                tap_sizes=[sizes[t] for t in taps], targets=targets, seeds=seeds, per_tap=per_tap,
                progress=progress, cache_keys=keys)
