"""``INPUT``'s test-time sizes from the LazyConfig test mapper, for ``relkd.export.to_yacs``."""

from __future__ import annotations

from .yacs_nodes import NotExpressible, _arg, _cls


def _input(cfg, mapper: dict | None) -> None:
    """Test-time resizing: ``DefaultPredictor`` applies ``ResizeShortestEdge(MIN_SIZE_TEST,
    MAX_SIZE_TEST)``, or nothing when ``MIN_SIZE_TEST`` is 0."""
    from detectron2.data.transforms import ResizeShortestEdge

    augs = list((mapper or {}).get("augmentations", []))
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 0, 0
    if not augs:
        return
    if len(augs) > 1 or _cls(augs[0]) is not ResizeShortestEdge:
        raise NotExpressible(f"test augmentations {augs}: DefaultPredictor only resizes")
    aug = augs[0]
    size = _arg(aug, "short_edge_length")
    cfg.INPUT.MIN_SIZE_TEST = size if isinstance(size, int) else size[0]
    cfg.INPUT.MAX_SIZE_TEST = _arg(aug, "max_size")
