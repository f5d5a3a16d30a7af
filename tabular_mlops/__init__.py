"""Plain, typed library behind the ZenML pipelines.

Nothing in this package imports ZenML: the steps in ``steps/`` call into it, and the unit tests
exercise it without a pipeline. Sub-packages follow the model's lifecycle: ``data``,
``features``, ``models``, ``evaluation``, ``registry``, ``serving`` and ``monitoring``.
"""

from tabular_mlops.errors import TabularMLOpsError

__all__ = ["TabularMLOpsError"]
__version__ = "0.1.0"
