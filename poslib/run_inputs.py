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
profile and applied parameters, and the content of every image folder the run reads: the data
folder, and each folder named by a ``-p`` value (``-p test_images=/some/folder``) outside it
(:func:`folder_fingerprint`: relative name and SHA-256 of every file). Symlinked folders are
followed (a dataset folder that is a link is hashed like any other), each folder once, so a
symlink cycle ends; special files (FIFOs, devices, sockets) are skipped with a notice and never
opened, and ``/proc``, ``/sys`` and ``/dev`` are never entered. A notebook whose recorded hash
matches and whose executed copy and artefacts all exist is *kept* ("kept (unchanged)") instead
of re-run; ``--force`` re-runs everything. The index says which notebooks were re-run or kept in
this invocation and when each last ran.

A provenance record that cannot be read as a record (truncated, corrupt, not a JSON object) is
named and set aside as ``provenance/<notebook>.json.corrupt`` (:func:`read_record`); its
notebook then counts as never run, so the next run re-runs it.

(A little over 400 lines: the parameters a run accepts and the inputs that decide whether it
re-runs are the two things the driver checks before a kernel starts.)
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
import os
import stat
from pathlib import Path

from .config import REPO_ROOT, ConfigError, get_profile, profile_field_types

#: Parameters the driver sets itself, and the option that sets each.
DRIVER_PARAMETERS = {"profile": "--profile", "data_root": "--data", "results_dir": "--out",
                     "profile_overrides": "-p FIELD=VALUE with a profile field's name"}
#: Files whose change re-runs every notebook (besides poslib/**/*.py).
ENVIRONMENT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")
#: Pseudo file systems never entered by :func:`folder_fingerprint` (reading them can block or never end).
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")
#: At most this many skipped files are named, one line each; the rest are counted.
_SHOWN_SKIPS = 5

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


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _regular_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Regular files under ``folder`` (relative name, path) in ``os.walk`` order, and what was skipped (one line each).

    Symlinked folders are followed; a folder already visited (same device and inode: a symlink
    cycle, or one folder reached by two names) is not read again. Nothing is opened here.
    """
    files: list[tuple[str, Path]] = []
    skipped: list[str] = []
    visited: set[tuple[int, int]] = set()

    def visit(current: Path, prefix: str) -> None:
        info = os.stat(current)
        if (info.st_dev, info.st_ino) in visited:
            return
        visited.add((info.st_dev, info.st_ino))
        try:
            names = sorted(os.listdir(current))
        except OSError as error:
            skipped.append(f"{prefix or './'} (folder not readable: {error.strerror})")
            return
        folders = []  # visited after the files, as os.walk does: unchanged data keeps its hash
        for name in names:
            path, relative = current / name, f"{prefix}{name}"
            try:
                mode = os.stat(path).st_mode  # follows symlinks
            except OSError:
                skipped.append(f"{relative} (a broken link or unreadable)")
                continue
            if stat.S_ISDIR(mode):
                folders.append((path, relative))
            elif stat.S_ISREG(mode):
                files.append((relative, path))
            else:
                skipped.append(f"{relative} ({_file_kind(mode)}, never opened)")
        for path, relative in folders:
            if os.path.realpath(path) in SYSTEM_FOLDERS:
                skipped.append(f"{relative} (system folder {os.path.realpath(path)}, never read)")
            else:
                visit(path, f"{relative}/")

    if os.path.realpath(folder) in SYSTEM_FOLDERS:
        return [], [f"{folder} (system folder, never read)"]
    visit(Path(folder), "")
    return files, skipped


def _file_sha256(path: Path) -> str | None:
    """SHA-256 of a regular file, or None if it is not one when opened (never blocks on a FIFO)."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return None
        return hashlib.file_digest(stream, "sha256").hexdigest()


def folder_fingerprint(folder: Path, what: str = "data folder") -> str:
    """Content hash of a folder: relative name and SHA-256 of every regular file under it.

    Symlinked folders are followed, each folder once (cycles end); special files (FIFOs,
    devices, sockets), broken links and the system folders of :data:`SYSTEM_FOLDERS` are
    skipped with a notice naming them (relative to ``folder``), never opened.

    Parameters
    ----------
    folder : Path
    what : str
        What the folder is, for the notice.
    """
    digest = hashlib.sha256()
    files, skipped = _regular_files(Path(folder))
    for relative, path in files:
        content = _file_sha256(path)
        if content is None:
            skipped.append(f"{relative} (not a regular file when opened)")
            continue
        digest.update(f"{relative}\0{content}\n".encode())
    for line in skipped[:_SHOWN_SKIPS]:
        print(f"[poslib] inputs hash of the {what}: skipped {line}")
    if len(skipped) > _SHOWN_SKIPS:
        print(f"[poslib] inputs hash of the {what}: skipped {len(skipped) - _SHOWN_SKIPS} more such entries")
    return digest.hexdigest()


def data_fingerprint(data_root: Path | None) -> str:
    """Content hash of a data folder (:func:`folder_fingerprint`; ``"embedded"`` without one).

    Reading every byte takes about 0.3 s for ECSSD, SOD and CamVid together (150 MB, files cached) and is
    done once per ``python -m poslib run``; unlike sizes and modification times it ignores a copy
    or restore that keeps the contents, and it sees an edit that keeps the size and the time.
    """
    return "embedded" if data_root is None else folder_fingerprint(data_root)


def parameter_folders(overrides: dict, data_root: Path | None) -> list[Path]:
    """Folders named by ``-p`` values that lie outside the data root (their content is part of the inputs).

    A value names a folder as :func:`poslib.data.natural_image_set` reads it: a dataset name
    under the data root (covered by the data fingerprint), else a path, relative to the
    repository root unless absolute.

    Examples
    --------
    >>> parameter_folders({"seed": 1, "test_images": "embedded"}, None)
    []
    """
    folders = set()
    root = data_root.resolve() if data_root is not None else None
    for value in overrides.values():
        if not isinstance(value, str) or not value.strip():
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            if data_root is not None and (data_root / value).is_dir():
                continue
            path = REPO_ROOT / path
        if path.is_dir():
            resolved = path.resolve()
            if root is None or not resolved.is_relative_to(root):
                folders.add(resolved)
    return sorted(folders)


def input_fingerprint(notebook: Path, profile: str, data_root: Path | None, overrides: dict,
                      data_hash: str | None = None) -> dict:
    """What a notebook's results depend on, hashed: ``{"hash": ..., "parts": {part: hash}}``.

    Parts: ``notebook`` (the .ipynb file), ``code`` (all ``poslib/**/*.py``), ``environment``
    (:data:`ENVIRONMENT_FILES`), ``parameters`` (profile and applied overrides) and ``data``
    (:func:`data_fingerprint`, combined with the :func:`folder_fingerprint` of every
    :func:`parameter_folders` folder when there are any).
    """
    package = REPO_ROOT / "poslib"
    parts = {"notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
             "code": _hash_files(package.rglob("*.py"), REPO_ROOT),
             "environment": _hash_files([REPO_ROOT / name for name in ENVIRONMENT_FILES], REPO_ROOT),
             "parameters": hashlib.sha256(json.dumps({"profile": profile, **overrides}, sort_keys=True,
                                                     default=str).encode()).hexdigest(),
             "data": data_hash or data_fingerprint(data_root)}
    folders = [folder_fingerprint(folder, "folder given with -p") for folder in parameter_folders(overrides, data_root)]
    if folders:
        parts["data"] = hashlib.sha256("\0".join([parts["data"], *folders]).encode()).hexdigest()
    parts = {k: v[:16] for k, v in parts.items()}
    combined = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": combined, "parts": parts}


def read_record(out_root: Path, stem: str) -> dict | None:
    """The published provenance record of notebook ``stem`` in ``out_root``, or None.

    A record that cannot be used (not JSON, truncated, not an object naming its notebook) is
    set aside as ``provenance/<stem>.json.corrupt`` with a notice naming it, and None is
    returned: the notebook counts as never run, so the next run re-runs it. Call it while
    holding :func:`poslib.publish.run_lock`.
    """
    path = out_root / "provenance" / f"{stem}.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        problem = str(getattr(error, "strerror", None) or error)
    else:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"not valid JSON: {error}"
        else:
            if isinstance(record, dict) and isinstance(record.get("notebook"), str):
                return record
            problem = f"a JSON {type(record).__name__}, not a record naming its notebook"
    aside = path.with_name(f"{path.name}.corrupt")
    try:
        os.replace(path, aside)
        where = f"set aside as provenance/{aside.name}"
    except OSError as error:
        where = f"could not be set aside ({error.strerror}); delete it"
    print(f"[poslib] provenance/{path.name} cannot be read ({problem}); {where}. "
          f"{stem} counts as not run: the next `python -m poslib run` re-runs it.")
    return None


def read_records(out_root: Path) -> list[dict]:
    """Every readable provenance record in ``out_root/provenance``, by file name (see :func:`read_record`)."""
    stems = sorted(p.stem for p in (Path(out_root) / "provenance").glob("*.json"))
    return [record for record in (read_record(Path(out_root), stem) for stem in stems) if record is not None]


def unchanged_reason(record: dict | None, inputs: dict, out_root: Path) -> str | None:
    """None if a notebook can be kept (same inputs hash, every artefact present), else why it must run."""
    if record is None:
        return "no previous run"
    previous = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
    if not previous.get("hash"):
        return "no inputs hash recorded (made by an older driver)"
    if previous.get("hash") != inputs["hash"]:
        parts = previous.get("parts") if isinstance(previous.get("parts"), dict) else {}
        changed = [k for k, v in inputs["parts"].items() if parts.get(k) != v]
        return f"changed: {', '.join(changed) or 'inputs'}"
    artefacts = record.get("artefacts", [])
    if not isinstance(artefacts, list) or not all(isinstance(a, dict) and isinstance(a.get("path"), str)
                                                  for a in artefacts):
        return "its provenance record lists no readable artefacts"
    missing = [a["path"] for a in artefacts if not (out_root / a["path"]).is_file()]
    executed = record.get("executed_notebook")
    if executed and not (isinstance(executed, str) and (out_root / executed).is_file()):
        missing.append(executed)
    if missing:
        return f"missing artefacts {missing[:3]}"
    return None


# ----------------------------------------------------------------------------- output folder: lock, housekeeping
