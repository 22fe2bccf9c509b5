"""Change the padding rule of every convolution of a model, in one place.

A *padding rule* is one of

``"zeros"``      the usual zero padding (the model is returned unchanged);
``"reflect"``, ``"replicate"``, ``"circular"``
                 the same amount of padding, filled by mirroring, repeating the edge,
                 or wrapping around (``torch.nn.Conv2d.padding_mode``);
``"valid"``      no padding at all: every convolution becomes "valid", so feature maps
                 shrink with depth and no border value is ever invented (the paper's
                 "w/o padding"; the old spelling ``"none"`` is accepted as an alias).

Explicit padding layers (``nn.ZeroPad2d`` / ``nn.ConstantPad2d``, used by TF-style
"same" convolutions such as EfficientNet-Lite's) follow the same rule: they become
reflection, replication or circular pads, or are removed for ``"valid"``.

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
    return check_choice(rule, PADDING_RULES, "padding rule")


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


def _replace_child(parent: nn.Module, name: str, new: nn.Module) -> None:
    setattr(parent, name, new)


def apply_padding(model: nn.Module, rule: str, inplace: bool = False) -> nn.Module:
    """Return ``model`` with every convolution (and explicit pad layer) following ``rule``.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; its weights are kept.
    rule : str
        One of :data:`PADDING_RULES`.
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
    """
    rule = check_padding_rule(rule)
    if rule == "zeros":
        return model
    if not inplace:
        model = copy.deepcopy(model)
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
