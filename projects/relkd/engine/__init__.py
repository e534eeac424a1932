"""Training and evaluation loops used by ``train_net.py`` and the tools."""

from .loop import do_test, do_train, summarize

__all__ = ["do_test", "do_train", "summarize"]
