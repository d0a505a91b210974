"""Shared code for the notebook series "Transfer learning as a powerful baseline".

- ``helpers.data``: image and series data sets behind
  one catalog, downloads, mosaics, stamps, telemetry;
- ``helpers.models``: backbones with offline ImageNet weights, frozen networks on OpenVINO / ONNX
  Runtime / TensorFlow, cached features, GAP classifiers, training plumbing;
- ``helpers.explain``: CAM and Grad-CAM, heat maps,
  localization scores, occlusion, shortcut detection;
- ``helpers.report``: metrics, figures, recorded results;
- ``helpers.checks`` (parameter checks), ``helpers.paths`` (where files live, atomic and
  self-healing caches), ``helpers.runner`` (the series under papermill).
"""

__version__ = "0.2.0"
