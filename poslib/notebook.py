"""The one setup call of every notebook, and the cells that every notebook ends with.

``run = notebook.start("02_backbone_probing", profile, seed, results_dir, profile_overrides)``
resolves the profile once (with the driver's field overrides, :func:`poslib.config.get_profile`)
and records it whole in the provenance, seeds everything (:func:`poslib.config.seed_everything`), sets the plotting
style and opens the notebook's :class:`poslib.report.Results`. :meth:`NotebookRun.images`
and :meth:`NotebookRun.task_data` load the data and show which data is in use (a loud
notice for the embedded default) and record it in the provenance; :meth:`NotebookRun.verdicts`
saves a claims table and shows its verdicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import json

import pandas as pd

from . import claims
from .config import ConfigError, Profile, get_profile, seed_everything
from .readout_store import reset_readout_counts
from .report import Results, set_style
from .work import reset_work


def _display(*objects) -> None:
    from IPython.display import display

    display(*objects)


def show_markdown(text: str) -> None:
    """Show ``text`` as markdown in a notebook (printed elsewhere)."""
    from IPython.display import Markdown

    _display(Markdown(text))


def show_skipped(rows) -> None:
    """Show each skipped configuration (:class:`poslib.probing.SkippedRow`) as one markdown line, with its cause.

    Parameters
    ----------
    rows : iterable of SkippedRow
        Configurations that could not run here; nothing is shown when empty.
    """
    for row in rows:
        show_markdown(row.markdown())


def show_notice(text: str, embedded: bool) -> None:
    """A quoted paragraph on the data in use; bold when it is the embedded default."""
    show_markdown(f"> **{text}**" if embedded else f"> {text}")


@dataclass
class NotebookRun:
    """What a notebook's setup cell returns: profile, seed and results folder.

    Attributes
    ----------
    name : str
        Notebook stem.
    profile : Profile
    seed : int
    results : Results
    """

    name: str
    profile: Profile
    seed: int
    results: Results

    def images(self, data_root: str = "", train: str = "", test: str = ""):
        """Probing images (:func:`poslib.probing.prepare_images`), shown and recorded."""
        from .probing import prepare_images

        images = prepare_images(self.profile, data_root, train, test, self.seed)
        show_notice(images.notice(), images.uses_embedded_default)
        self.results.record(images=images.describe())
        return images

    def task_data(self, data_root: str = ""):
        """Saliency and segmentation data of notebook 05 (:mod:`poslib.task_data`), shown and recorded."""
        from .task_data import saliency_data, segmentation_data

        tasks = {"saliency": saliency_data(self.profile.tasks, data_root, self.seed),
                 "segmentation": segmentation_data(self.profile.tasks, data_root, self.seed)}
        for data in tasks.values():
            show_notice(data.notice(), data.uses_embedded_default)
        self.results.record(data={task: data.describe() for task, data in tasks.items()})
        return tasks["saliency"], tasks["segmentation"]

    def settings(self, section: str) -> pd.DataFrame:
        """The profile's settings of one notebook section (``"layerwise"``...), recorded and as a table."""
        values = {key: str(value) for key, value in asdict(getattr(self.profile, section)).items()}
        self.results.record(settings=values)
        return pd.Series(values, name=f"{section} settings ({self.profile.name})").to_frame()

    def verdicts(self, checks: pd.DataFrame, name: str, caption: str, notes=()) -> pd.DataFrame:
        """Save a claims table, show it, its verdict per claim and a summary; returns the verdicts."""
        self.results.table(checks, name, caption)
        verdicts = claims.verdict(checks)
        _display(checks, verdicts)
        show_markdown("\n".join(claims.summary_lines(checks) + list(notes) + [claims.RULE_NOTE]))
        return verdicts


def parse_profile_overrides(text: str) -> dict:
    """The ``profile_overrides`` notebook parameter (JSON object of field path -> value; ``""``: none).

    Raises
    ------
    ConfigError
        If the text is not a JSON object.
    """
    if not text or not text.strip():
        return {}
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"profile_overrides {text!r} is not JSON ({error}); write e.g. "
                          '\'{"seeds": "0,1", "padding_study.readout_paddings": "0,1"}\'') from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"profile_overrides {text!r} must be a JSON object of field path -> value")
    return overrides


def start(name: str, profile: str, seed: int, results_dir: str, profile_overrides: str = "") -> NotebookRun:
    """Set up a notebook run (see the module docstring).

    Parameters
    ----------
    name : str
        Notebook stem, e.g. ``"02_backbone_probing"``.
    profile : str
        ``smoke``, ``default`` or ``paper``.
    seed : int
        Seed of everything the notebook draws.
    results_dir : str
        Output folder (the driver sets it; ``""`` -> ``results/interactive/``).
    profile_overrides : str
        JSON object of profile field overrides (``-p seeds=0,1`` on the driver), ``""`` for none.

    Raises
    ------
    ConfigError
        For an unknown profile or a bad override.
    """
    run_profile = get_profile(profile, parse_profile_overrides(profile_overrides))
    reset_readout_counts()
    reset_work()
    seed_everything(seed)
    set_style()
    results = Results(results_dir, name)
    results.record(seed=seed, resolved_profile=run_profile.as_dict())
    return NotebookRun(name, run_profile, seed, results)
