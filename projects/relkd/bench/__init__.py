"""The code behind relkd's command-line tools (``tools/*.py``, thin scripts over it): training
runs and benchmarks of distilled students, and what they compute from them.

- ``methods``: the distillation recipes the tools know, in one table;
- ``runs``, ``jobs``: ``train_net.py`` runs (cached, resumed) and the pool that runs them;
- ``plan``, ``tables``, ``weights``: the quality table's runs, its statistics and markdown, its
  loss weightings;
- ``converged``, ``verdict``: the comparison at convergence and its pre-registered rule;
- ``models``, ``batches``, ``timing``, ``memory``, ``overhead``: the distillation-overhead
  benchmark;
- ``vis``, ``drawing``: the pictures of a distilling model;
- ``exporting``: a distilled run's config and plain student, for the export tools.

It sits above every other part of relkd and nothing of relkd imports it
(``tests/test_layering.py``).
"""

from .verdict import Comparison, decide, holm_levels, verdict, welch

__all__ = ["Comparison", "decide", "holm_levels", "verdict", "welch"]
