"""The data audit: what is wrong with a dataset before a model learns it.

``audit_source(SRC)`` finds exact and near duplicates, the same picture under two labels,
test images that copy training images, suspected mislabels (confident learning on a k-fold
linear model) and poor images, and reports each as a ``Finding``. It never changes a file:
a finding's ``exclude`` ids go into ``DataConfig.exclude``, which a training request uses
and its run records.
"""

from cnnlib.audit.exclusions import exclusions_for, read_exclusions, write_exclusions
from cnnlib.audit.findings import KIND_TITLES, KINDS, AuditReport, Finding
from cnnlib.audit.run import audit_source

__all__ = ["KINDS", "KIND_TITLES", "AuditReport", "Finding", "audit_source", "exclusions_for",
           "read_exclusions", "write_exclusions"]
