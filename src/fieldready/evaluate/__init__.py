"""The evaluate stage: predictions in the result store → metrics of every unit (model × point).

``evaluate.py`` reads the store and measures each unit once; ``metrics/`` is the one registry of
metric definitions and the pure metric math (COCO detection, classification, stability,
robustness aggregates, bootstrap, significance). ``metrics/`` imports no stage: the spec stage reads
its registry to validate criteria, without torch.
"""
