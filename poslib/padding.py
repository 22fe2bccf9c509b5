"""Change the padding rule of every convolution of a model, in one place.

A *padding rule* is one of

``"zeros"``      the usual zero padding (the model is returned unchanged);
``"reflect"``, ``"replicate"``, ``"circular"``
                 the same amount of padding, filled by mirroring, repeating the edge,
                 or wrapping around (``torch.nn.Conv2d.padding_mode``);
``"valid"``      no padding at all: every convolution becomes "valid", so feature maps
                 shrink with depth and no border value is ever invented (the paper's
                 "w/o padding"; the old spelling ``"none"`` is accepted as an alias);
``"partial"``    partial-convolution padding (Liu et al. 2018, *Partial Convolution based
                 Padding*): zero padding, then each output near the border re-weighted by
                 (kernel area) / (number of real input pixels under the kernel), so a
                 constant input gives a constant map (:class:`PartialConv2d`).

Explicit padding layers (``nn.ZeroPad2d`` / ``nn.ConstantPad2d``, used by TF-style
"same" convolutions such as EfficientNet-Lite's) follow the same rule: they become
reflection, replication or circular pads, or are removed for ``"valid"``.

Under ``"partial"`` every padded convolution is wrapped in a :class:`PartialConv2d`;
an explicit pad that belongs to a TF-style "same" convolution (its ``static_padding``)
is counted in that convolution's re-weighting. A free-standing pad layer has no
convolution of its own to re-weight and stays a zero pad. ``"partial"`` is in
:data:`ALL_PADDING_RULES`, not in :data:`PADDING_RULES` (the rules that change the
border *values*, which notebook 04 iterates over).

Networks with residual connections cannot simply drop padding: the two branches of a
block no longer have the same size. :func:`apply_padding` does not hide that; a backbone
that supports ``"valid"`` says how (``poslib.backbones`` refuses the rule otherwise).
Max-pooling layers keep their own (-inf) padding under every rule.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from .config import check_choice

PADDING_RULES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular", "valid")
#: The rule that re-weights the zero-padded border instead of changing its values.
PARTIAL_RULE = "partial"
#: Every rule :func:`apply_padding` accepts.
ALL_PADDING_RULES: tuple[str, ...] = PADDING_RULES + (PARTIAL_RULE,)
#: Old spellings still accepted.
PADDING_RULE_ALIASES = {"none": "valid"}


def check_padding_rule(rule: str) -> str:
    """Validate a padding rule name and return its canonical spelling.

    Examples
    --------
    >>> check_padding_rule("none")
    'valid'

    Raises
    ------
    ConfigError
        Naming the rule and the valid ones.
    """
    rule = PADDING_RULE_ALIASES.get(rule, rule)
    return check_choice(rule, ALL_PADDING_RULES, "padding rule")


class ModePad2d(nn.Module):
    """An explicit pad with a non-zero mode; stands in for ``nn.ZeroPad2d``.

    Parameters
    ----------
    pad : tuple of int
        (left, right, top, bottom), as for :func:`torch.nn.functional.pad`.
    mode : {"reflect", "replicate", "circular"}
        How the border is filled.
    """

    def __init__(self, pad: tuple[int, int, int, int], mode: str):
        super().__init__()
        self.pad = tuple(int(p) for p in pad)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pad, mode=self.mode)

    def extra_repr(self) -> str:
        return f"pad={self.pad}, mode={self.mode!r}"


class PartialConv2d(nn.Module):
    """A zero-padded convolution re-weighted near the border (partial-convolution padding).

    ``y = (conv(x) - b) * (k_h * k_w) / n(p) + b``, where ``n(p)`` is the number of real
    (not padded) input pixels under the kernel at output position ``p`` (Liu et al. 2018).
    In the interior ``n = k_h * k_w`` and the output equals the plain convolution's. The
    ratio map depends only on the input size and is computed once per size.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        The convolution to wrap (zero padding; its ``padding`` and, for TF-style "same"
        convolutions, its ``static_padding`` pad are kept and counted).

    Examples
    --------
    >>> conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    >>> _ = nn.init.constant_(conv.weight, 1.0)
    >>> PartialConv2d(conv)(torch.ones(1, 1, 4, 4)).unique().tolist()
    [9.0]
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self._ratios: dict = {}

    def ratio(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """(1, 1, H_out, W_out) map of (kernel area) / (real input pixels under the kernel)."""
        key = (height, width, str(device))
        if key not in self._ratios:
            conv = self.conv
            ones = torch.ones(1, 1, height, width, device=device)
            pad = getattr(conv, "static_padding", None)
            if isinstance(pad, (nn.ZeroPad2d, nn.ConstantPad2d)):
                ones = F.pad(ones, pad.padding)
            kernel = torch.ones(1, 1, *conv.kernel_size, device=device)
            count = F.conv2d(ones, kernel, stride=conv.stride, padding=conv.padding, dilation=conv.dilation)
            area = float(conv.kernel_size[0] * conv.kernel_size[1])
            self._ratios[key] = torch.where(count > 0, area / count.clamp(min=1), torch.zeros_like(count))
        return self._ratios[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        ratio = self.ratio(x.shape[-2], x.shape[-1], x.device).to(out.dtype)
        if self.conv.bias is None:
            return out * ratio
        bias = self.conv.bias.view(1, -1, 1, 1)
        return (out - bias) * ratio + bias

    def extra_repr(self) -> str:
        return "partial-convolution padding"


def _is_padded(conv: nn.Conv2d) -> bool:
    """Whether a convolution pads its input (its own padding or a TF-style static pad)."""
    pad = getattr(conv, "static_padding", None)
    static = isinstance(pad, (nn.ZeroPad2d, nn.ConstantPad2d)) and any(p > 0 for p in pad.padding)
    own = conv.padding == "same" or any(p > 0 for p in conv.padding)
    return static or own


def _apply_partial(model: nn.Module) -> nn.Module:
    """Wrap every padded convolution of ``model`` (already a copy, or the caller's choice) in :class:`PartialConv2d`."""
    if isinstance(model, nn.Conv2d):
        return PartialConv2d(model) if _is_padded(model) else model
    for parent in list(model.modules()):
        if isinstance(parent, PartialConv2d):
            continue
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and _is_padded(child):
                _replace_child(parent, name, PartialConv2d(child))
    return model


def _replace_child(parent: nn.Module, name: str, new: nn.Module) -> None:
    setattr(parent, name, new)


def apply_padding(model: nn.Module, rule: str, inplace: bool = False) -> nn.Module:
    """Return ``model`` with every convolution (and explicit pad layer) following ``rule``.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; its weights are kept.
    rule : str
        One of :data:`ALL_PADDING_RULES`.
    inplace : bool
        Change ``model`` itself instead of a deep copy.

    Returns
    -------
    torch.nn.Module
        The changed model (weights shared with ``model`` only when ``inplace``).

    Examples
    --------
    >>> conv = nn.Conv2d(1, 1, 3, padding=1)
    >>> apply_padding(conv, "valid").padding
    (0, 0)
    >>> apply_padding(conv, "circular").padding_mode
    'circular'
    >>> type(apply_padding(conv, "partial")).__name__
    'PartialConv2d'
    """
    rule = check_padding_rule(rule)
    if rule == "zeros":
        return model
    if not inplace:
        model = copy.deepcopy(model)
    if rule == PARTIAL_RULE:
        return _apply_partial(model)
    modules = [model] if isinstance(model, (nn.Conv2d, nn.ZeroPad2d, nn.ConstantPad2d)) else []
    for module in modules or model.modules():
        if isinstance(module, nn.Conv2d):
            if rule == "valid":
                module.padding = (0, 0)
                module._reversed_padding_repeated_twice = [0, 0, 0, 0]
            elif any(p > 0 for p in module.padding):
                module.padding_mode = rule
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.ZeroPad2d, nn.ConstantPad2d)):
                new = nn.Identity() if rule == "valid" else ModePad2d(child.padding, rule)
                _replace_child(parent, name, new)
    return model
