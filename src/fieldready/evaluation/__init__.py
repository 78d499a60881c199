"""The evaluation stage: predictions in the result store → metrics of every unit (model × point).

``evaluate.py`` reads the store and measures each unit once; ``metrics/`` is the one registry of
metric definitions and the pure metric math (COCO detection, classification, stability,
robustness aggregates, bootstrap, significance). ``metrics/`` imports no stage: the spec stage reads
its registry to validate criteria, without torch.

The package is named ``evaluation`` (not ``evaluate``) because ``fieldready.evaluate`` is the public
function: a subpackage of the same name would replace it on the ``fieldready`` module once imported.
"""
