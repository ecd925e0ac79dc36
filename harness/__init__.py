"""Differential testing of spatial-transcriptomics pipelines against the STAIG reference."""

import os

STARTUP_LIBRARY_PATH = os.environ.get("LD_LIBRARY_PATH")
"""``LD_LIBRARY_PATH`` when the harness was first imported, before an embedded R could change it.

Starting R through rpy2 prepends R's library folders and the system's
``/usr/lib/<arch>`` to ``LD_LIBRARY_PATH`` in this process. A child Python
that inherits that path can load the system's ``libpython`` in place of its
own and fail on ``import ssl``, so matrix jobs start with this value instead.
"""
