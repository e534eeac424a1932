"""Access to detectron2's current ``EventStorage`` without requiring one."""

from __future__ import annotations


def current_storage():
    """The innermost active ``EventStorage``, or ``None`` outside a ``with EventStorage()``."""
    from detectron2.utils.events import _CURRENT_STORAGE_STACK

    return _CURRENT_STORAGE_STACK[-1] if _CURRENT_STORAGE_STACK else None
