"""What relkd's benchmark tools compute from finished runs: the statistics and the
pre-registered verdict of a comparison of distilled students against their baseline."""

from .verdict import Comparison, decide, holm_levels, verdict, welch

__all__ = ["Comparison", "decide", "holm_levels", "verdict", "welch"]
