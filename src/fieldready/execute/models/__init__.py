"""Model adapters: load a candidate model and run it on a batch under fieldready's model contract.

The contract (torchvision's convention): the callable takes float ``[N, 3, H, W]`` in [0, 1] (RGB
unless the spec says bgr, after the declared resize and normalisation) and returns, for detection,
N dicts with ``boxes`` [K, 4] xyxy in input pixels, ``scores`` [K] and ``labels`` [K] (dataset
category ids); for classification, logits ``[N, num_classes]`` in the dataset's class order.
"""

from fieldready.execute.models.adapter import Adapter, BatchDetections, load_model
from fieldready.execute.models.loaders import LOADERS, register_loader

__all__ = ["Adapter", "BatchDetections", "load_model", "LOADERS", "register_loader"]
