"""Shared code for the notebook series "Transfer learning as a powerful baseline".

One module per concept: ``paths`` (where data, caches and outputs live),
``backbones`` (ImageNet CNNs with their own preprocessing, offline),
``checkpoint`` (reading the legacy torch checkpoint without torch),
``datasets`` (ELPV, image folders, the shared split), ``features`` (tf.data
featurization with an on-disk cache), ``results`` (recorded metrics) and
``runner`` (papermill execution of the series).
"""

__version__ = "0.1.0"
