"""What the driver checks and records before it runs a notebook: parameters and the inputs hash.

Parameters (``-p key=value``)
-----------------------------
``-p`` sets a parameter *declared in the notebook's* ``parameters`` *cell* (read with
``papermill.inspect_notebook``) or a *profile field* by its dotted path (``-p seeds=0,1``,
``-p padding_study.readout_paddings=0,1``; :func:`poslib.config.apply_overrides` types and
checks them). Profile fields reach every notebook as one parameter, ``profile_overrides`` (a
JSON object), resolved once in :func:`poslib.notebook.start`; a run with profile overrides
writes to its own folder (:func:`poslib.runner.output_root`). A name that is neither is an
error listing the valid ones; names must be Python identifiers (checked before anything reaches a kernel);
values are converted to the declared type (``int``, ``float``, ``bool``, ``str``); the
driver's own parameters ``profile``, ``data_root`` and ``results_dir`` are set with
``--profile``, ``--data`` and ``--out`` only. A parameter declared by some of the selected
notebooks is passed to those (the driver says so). The provenance records what was applied
(``overrides``).

Incremental regeneration
------------------------
Each notebook's provenance records a hash of its inputs (:func:`input_fingerprint`): the
notebook file, all of ``poslib/**/*.py``, the requirements files and ``pyproject.toml``, the
profile and applied parameters, and a cheap fingerprint of the data folder (relative names,
sizes and modification times of its files). A notebook whose recorded hash matches and whose
executed copy and artefacts all exist is *kept* ("kept (unchanged)") instead of re-run;
``--force`` re-runs everything. The index says which notebooks were re-run or kept in this
invocation and when each last ran.
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
import os
from pathlib import Path

from .config import REPO_ROOT, ConfigError, get_profile, profile_field_types

#: Parameters the driver sets itself, and the option that sets each.
DRIVER_PARAMETERS = {"profile": "--profile", "data_root": "--data", "results_dir": "--out",
                     "profile_overrides": "-p FIELD=VALUE with a profile field's name"}
#: Files whose change re-runs every notebook (besides poslib/**/*.py).
ENVIRONMENT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")

def notebook_parameters(notebook: Path) -> dict[str, dict]:
    """The parameters declared in a notebook's ``parameters`` cell: name -> {inferred_type_name, default, help}."""
    import papermill

    return dict(papermill.inspect_notebook(str(notebook)))


def parse_parameter_items(items: list[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` from the command line as a dict, keys checked.

    Raises
    ------
    ConfigError
        If an item has no ``=``, a key is not a Python identifier (nothing else may reach a
        kernel), or a key is one the driver sets (``profile``, ``data_root``, ``results_dir``).

    Examples
    --------
    >>> parse_parameter_items(["seed=1", "backbones=vgg16:random"])
    {'seed': '1', 'backbones': 'vgg16:random'}
    """
    parameters = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        key = key.strip()
        if not separator:
            raise ConfigError(f"-p {item!r}: write -p name=value")
        if not _is_name(key):
            raise ConfigError(f"-p {item!r}: {key!r} is not a parameter name (a Python identifier) nor a profile "
                              f"field path (section.field); see the notebook's parameters cell or poslib.config")
        if key in DRIVER_PARAMETERS:
            raise ConfigError(f"-p {key}=... cannot be set: the driver sets {key}; use {DRIVER_PARAMETERS[key]} instead")
        parameters[key] = value
    return parameters


def _is_name(key: str) -> bool:
    """A Python identifier, or dotted identifiers (a profile field path)."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in str(key).split("."))


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def convert_parameter(name: str, value, type_name: str | None, notebook: str = "the notebook"):
    """``value`` converted to the declared type of parameter ``name``.

    Strings (from the command line) are converted to ``int``, ``float`` or ``bool``
    (true/false, 1/0, yes/no, on/off); for a parameter whose type papermill could not infer,
    a Python literal is read (``ast.literal_eval``) and anything else stays a string.
    Values that are not strings must already have the declared type.

    Raises
    ------
    ConfigError
        If the value does not convert, naming the parameter, the notebook and the type.

    Examples
    --------
    >>> convert_parameter("seed", "1", "int"), convert_parameter("flip", "no", "bool")
    (1, False)
    """
    types = {"int": int, "float": float, "bool": bool, "str": str}
    wanted = types.get(type_name or "")
    if not isinstance(value, str):
        if wanted is None or isinstance(value, wanted) and not (wanted is int and isinstance(value, bool)):
            return value
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"parameter {name} of {notebook} is declared {type_name}, got {value!r}")
    try:
        if wanted is bool:
            if value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(value)
        if wanted is not None:
            return wanted(value.strip()) if wanted is not str else value
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    except ValueError:
        raise ConfigError(f"-p {name}={value!r}: {notebook} declares {name} as {type_name}"
                          f"{' (true/false)' if wanted is bool else ''}; give a value of that type") from None


def split_profile_fields(parameters: dict | None, declared_names: set[str]) -> tuple[dict, dict]:
    """``-p`` items split into notebook parameters and profile field overrides.

    A name that a selected notebook declares is a notebook parameter; a dotted name, or a
    name that is a profile field (:func:`poslib.config.profile_field_types`) and no notebook's
    parameter, is a profile override.
    """
    fields = profile_field_types()
    notebook_items, profile_items = {}, {}
    for key, value in dict(parameters or {}).items():
        if key in declared_names and "." not in key:
            notebook_items[key] = value
        elif key in fields or "." in key:
            profile_items[key] = value
        else:
            notebook_items[key] = value
    return notebook_items, profile_items


def resolve_overrides(notebooks: list[Path], parameters: dict | None, profile: str = "smoke") -> dict[str, dict]:
    """Per notebook stem, the ``-p`` parameters it declares, converted to their declared types.

    Profile field overrides (see the module docstring) are checked against ``profile`` and
    passed to every notebook as ``profile_overrides`` (a JSON object, sorted by field path).

    Raises
    ------
    ConfigError
        If a name is neither declared by a selected notebook nor a profile field (listing the
        valid names), is driver-owned, or a value does not convert.
    """
    parameters = dict(parameters or {})
    for key in parameters:
        if key in DRIVER_PARAMETERS:
            raise ConfigError(f"-p {key}=... cannot be set: the driver sets {key}; use {DRIVER_PARAMETERS[key]} instead")
        if not _is_name(key):
            raise ConfigError(f"-p {key!r}: not a parameter name (a Python identifier) nor a profile field path")
    declared = {nb.stem: notebook_parameters(nb) for nb in notebooks} if parameters else {nb.stem: {} for nb in notebooks}
    declared_names = {name for names in declared.values() for name in names}
    notebook_items, profile_items = split_profile_fields(parameters, declared_names)
    if profile_items:
        get_profile(profile, profile_items)  # typed and validated here, before any kernel starts
    valid = sorted(declared_names - set(DRIVER_PARAMETERS))
    unknown = [key for key in notebook_items if not any(key in names for names in declared.values())]
    if unknown:
        raise ConfigError(f"-p {', '.join(unknown)}: not a parameter of {', '.join(declared)} nor a profile field; "
                          f"the notebook parameters that -p can set are {valid}, and any profile field by its "
                          f"path (e.g. seeds, epochs, layerwise.depths; see poslib.config)")
    applied = {}
    profile_text = json.dumps({key: str(value) for key, value in sorted(profile_items.items())}) if profile_items else ""
    for stem, names in declared.items():
        applied[stem] = {key: convert_parameter(key, value, names[key].get("inferred_type_name"), stem)
                         for key, value in notebook_items.items() if key in names}
        if profile_text:
            applied[stem]["profile_overrides"] = profile_text
    for key in notebook_items:
        without = [stem for stem in declared if key not in declared[stem]]
        if without:
            print(f"[poslib] -p {key} applies to {[s for s in declared if s not in without]} only; "
                  f"{without} do not declare it")
    return applied


# ----------------------------------------------------------------------------- inputs and incremental runs


def _hash_files(paths, root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def data_fingerprint(data_root: Path | None) -> str:
    """Content hash of a data folder: relative name and SHA-256 of every file ("embedded" without one).

    Reading every byte takes about 0.3 s for ECSSD, SOD and CamVid together (150 MB, files cached) and is
    done once per ``python -m poslib run``; unlike sizes and modification times it ignores a copy
    or restore that keeps the contents, and it sees an edit that keeps the size and the time.
    """
    if data_root is None:
        return "embedded"
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(data_root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            try:
                with path.open("rb") as handle:
                    content = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError:
                continue
            digest.update(f"{path.relative_to(data_root)}\0{content}\n".encode())
    return digest.hexdigest()


def input_fingerprint(notebook: Path, profile: str, data_root: Path | None, overrides: dict,
                      data_hash: str | None = None) -> dict:
    """What a notebook's results depend on, hashed: ``{"hash": ..., "parts": {part: hash}}``.

    Parts: ``notebook`` (the .ipynb file), ``code`` (all ``poslib/**/*.py``), ``environment``
    (:data:`ENVIRONMENT_FILES`), ``parameters`` (profile and applied overrides) and ``data``
    (:func:`data_fingerprint`).
    """
    package = REPO_ROOT / "poslib"
    parts = {"notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
             "code": _hash_files(package.rglob("*.py"), REPO_ROOT),
             "environment": _hash_files([REPO_ROOT / name for name in ENVIRONMENT_FILES], REPO_ROOT),
             "parameters": hashlib.sha256(json.dumps({"profile": profile, **overrides}, sort_keys=True,
                                                     default=str).encode()).hexdigest(),
             "data": data_hash or data_fingerprint(data_root)}
    parts = {k: v[:16] for k, v in parts.items()}
    combined = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": combined, "parts": parts}


def read_record(out_root: Path, stem: str) -> dict | None:
    """The published provenance record of notebook ``stem`` in ``out_root``, or None."""
    path = out_root / "provenance" / f"{stem}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def unchanged_reason(record: dict | None, inputs: dict, out_root: Path) -> str | None:
    """None if a notebook can be kept (same inputs hash, every artefact present), else why it must run."""
    if record is None:
        return "no previous run"
    previous = record.get("inputs") or {}
    if not previous.get("hash"):
        return "no inputs hash recorded (made by an older driver)"
    if previous.get("hash") != inputs["hash"]:
        changed = [k for k, v in inputs["parts"].items() if previous.get("parts", {}).get(k) != v]
        return f"changed: {', '.join(changed) or 'inputs'}"
    missing = [a["path"] for a in record.get("artefacts", []) if not (out_root / a["path"]).is_file()]
    executed = record.get("executed_notebook")
    if executed and not (out_root / executed).is_file():
        missing.append(executed)
    if missing:
        return f"missing artefacts {missing[:3]}"
    return None


# ----------------------------------------------------------------------------- output folder: lock, housekeeping
