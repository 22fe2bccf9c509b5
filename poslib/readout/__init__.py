"""The PosENet readout and its training on cached features.

One module per part, all names re-exported here (``from poslib.readout import ...``):

``model``
    :class:`ReadoutConfig`, :class:`PosENet` (all targets, and seeds, as disjoint blocks of
    one module), the upsampling of its output and its matrix, and the FLOPs of a training
    epoch (:func:`readout_epoch_flops`).
``inputs``
    the batch order, cached features as tensors (in RAM or memory-mapped), batches, and the
    split into channels used as cached and coarse groups at their own side.
``fast``
    the compute mode, the forward pass in bfloat16 with coarse taps at their own side, the
    exact loss on the small maps.
``training``
    :func:`train_readouts` (grouped, and the float32 reference), :func:`train_readout`,
    :func:`predict`, :func:`evaluate`.

Module constants (e.g. :data:`~poslib.readout.inputs.NATIVE_MIN_SAVED_CHANNELS`) are read
from their own module: change them there, not here.
"""

from .fast import UpsampledMSE, fast_dtype, fast_forward, resolve_compute
from .inputs import (FLOAT32_RAM_LIMIT, IN_RAM_LIMIT, NATIVE_MIN_SAVED_CHANNELS, NATIVE_RESIDUAL_LIMIT,
                     MappedFeatures, ReadoutInputs, batch_order, feature_tensor, load_batch, readout_inputs)
from .model import (COMPUTE_MODES, PosENet, ReadoutConfig, bilinear_matrix, interpolation_matrix,
                    readout_epoch_flops, upsample)
from .training import evaluate, predict, train_readout, train_readouts

__all__ = [
    "COMPUTE_MODES", "FLOAT32_RAM_LIMIT", "IN_RAM_LIMIT", "NATIVE_MIN_SAVED_CHANNELS", "NATIVE_RESIDUAL_LIMIT",
    "MappedFeatures", "PosENet", "ReadoutConfig", "ReadoutInputs", "UpsampledMSE", "batch_order",
    "bilinear_matrix", "evaluate", "fast_dtype", "fast_forward", "feature_tensor", "interpolation_matrix",
    "load_batch", "predict", "readout_epoch_flops", "readout_inputs", "resolve_compute", "train_readout",
    "train_readouts", "upsample",
]
