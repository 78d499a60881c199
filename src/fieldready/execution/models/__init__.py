"""Model adapters and model kinds: load a candidate model and run it under fieldready's model contract.

The contract (torchvision's convention): the callable takes float ``[N, 3, H, W]`` in [0, 1] (RGB
unless the spec says bgr, after the declared resize and normalisation) and returns, for detection,
N dicts with ``boxes`` [K, 4] xyxy in input pixels, ``scores`` [K] and ``labels`` [K] (dataset
category ids); for classification, logits ``[N, num_classes]`` in the dataset's class order.

``adapter.py`` holds that contract (``Adapter``, ``load_model``; it imports torch); ``kinds/`` the
registry of model kinds, one module per kind, read by the spec stage without torch. This package
imports neither, so reading ``kinds`` stays cheap.
"""
