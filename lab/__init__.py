"""Coupon strategy lab: simulate, store and analyse coupon issuance.

The public API is flat: ``import lab`` and call ``lab.simulate``, ``lab.funnel``,
``lab.compare``... See README for the tour.
"""

__version__ = "0.1.0"

from lab.schema import SCHEMA_VERSION
from lab.store import SchemaVersionError, Store, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "__version__",
]
