"""The execution stage: a ``TestPlan`` → predictions in the result store.

``runner.py`` decodes, corrupts and predicts batch by batch; ``store.py`` commits each batch to
SQLite atomically; ``device.py`` picks the device; ``models/`` holds the model adapter (the input and
output contract) and the registry of model kinds (``models/kinds/``: one module per kind, its loader
and its option schema). Nothing here is imported at package import, so the spec stage can read the
model-kind registry without importing torch.

The package is named ``execution`` (not ``execute``) because ``fieldready.execute`` is the public
function: a subpackage of the same name would replace it on the ``fieldready`` module once imported.
"""
