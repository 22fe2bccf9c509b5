"""The study's experiments beyond a single probing run, one module per question.

``layerwise``
    readout depth / kernel variants and one level at a time, with a channel control (notebook 03).
``padding_study``
    backbone padding rules, readout padding and the border analysis (notebook 04).
``task_training``
    the task networks trained with and without padding and their scores (notebook 05, Table 5).
``frame_shift``
    how a saliency prediction moves when the image frame is cut (notebook 05, Figure 1).
``task_probing``
    the position readout on encoders trained for different tasks (notebook 05, Table 6).
``absolute_location``, ``gap_position``, ``padding_parity``, ``input_size``
    the questions the paper's successors asked (notebook 06): how far from the border a CNN
    tells absolute location, position after global pooling, uneven padding and input-size
    parity, input size against position.
``input_contrast``
    photos faded towards ImageNet's mean colour: position per level (SPC and the probe-free
    share) against input contrast (notebook 07).
``common``
    what notebooks 03 and 04 say alike about their readouts.

Entry functions take the profile first, then what they work on (the probing images, trained models).
"""
