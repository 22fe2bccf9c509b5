"""poslib: how much position information do CNNs encode?

A small library behind the numbered notebooks of this repository. Each module maps to
one concept of the study:

``patterns``
    the five position targets (H, V, G, HS, VS) and the synthetic inputs.
``data``
    image folders, datasets under ``POSLIB_DATA`` and the embedded default.
``backbones``
    frozen CNNs with multi-level taps f1..f5 and their weights.
``padding``
    one function that changes the padding rule of every convolution of a model.
``features``
    run a frozen backbone once per image and configuration; cache the taps on disk.
``readout``
    the PosENet readout, five targets trained in one pass.
``metrics``
    per-image Spearman correlation and mean absolute error.
``probing``
    the probing protocol: features -> readouts over seeds -> tidy tables.
``layerwise``
    readout depth / kernel variants and one level at a time, with a channel control (notebook 03).
``padding_study``
    backbone padding rules, readout padding and the border analysis (notebook 04).
``report``
    tables, figures, plotting style and the paper's reference numbers.
``runner``
    the papermill driver and the generated results index.
"""

__version__ = "0.1.0"
