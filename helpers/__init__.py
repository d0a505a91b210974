"""Shared code for the notebook series "Transfer learning as a powerful baseline".

One module per concept:

- data: ``paths`` (where data, caches and outputs live), ``datasets`` (ELPV, image
  folders, the shared split), ``downloads`` and ``remote_datasets`` (EuroSAT,
  MedMNIST, UCI HAR), ``timeseries`` and ``telemetry`` (sensor series), ``images``;
- models: ``checkpoint`` (legacy torch checkpoints without torch), ``backbones``
  (ImageNet CNNs with their own preprocessing, offline), ``features`` (tf.data
  featurization with an on-disk cache), ``estimators`` (scikit-learn transformer),
  ``models`` and ``training`` (GAP classifiers, fine-tuning), ``sequence_models``;
- explanation: ``cam`` (CAM, Grad-CAM), ``mosaics`` (localization scoring),
  ``artifacts`` and ``guided`` (CAM-guided cleaning);
- reporting: ``metrics``, ``plots``, ``results`` (recorded numbers), ``runner``
  (papermill execution of the series).
"""

__version__ = "0.1.0"
