"""A console a user reads: what detectron2's set-up prints at length goes to ``log.txt`` only.

``default_setup`` prints the environment table (with its 25-line "PyTorch built with" block and
an alarming but harmless ``detectron2._C not built correctly`` line on CPU-only installs), the
command line and the whole config file with terminal colour codes, which then also land in
``log.txt``. :func:`setup` runs ``default_setup`` with those three records held back, and writes
them to ``log.txt`` without colour codes. The model print and Python warnings raised while
training go to ``log.txt`` only, through :func:`details`.
"""

from __future__ import annotations

import logging
import os
import re

from detectron2.engine import default_setup
from detectron2.utils import comm

# the records of detectron2's set-up that go to log.txt only
_LONG_RECORDS = ("Environment info:", "Command line arguments:", "Contents of args.config_file")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
DETAILS = "relkd.details"


class _HoldBack(logging.Filter):
    """Keep the records whose message starts with one of ``_LONG_RECORDS`` off every handler of
    the logger, and remember their text."""

    def __init__(self):
        super().__init__()
        self.held: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith(_LONG_RECORDS):
            self.held.append(_ANSI.sub("", msg))
            return False
        return True


def details(output_dir: str | None) -> logging.Logger:
    """A logger that writes to ``<output_dir>/log.txt`` only (main process; nothing elsewhere).
    A later call with another ``output_dir`` (several runs in one process) moves it there."""
    logger = logging.getLogger(DETAILS)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    path = os.path.abspath(os.path.join(output_dir, "log.txt")) if output_dir else None
    files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    for old in [h for h in files if h.baseFilename != path]:
        logger.removeHandler(old)
        old.close()
    if path and comm.is_main_process() and not any(h.baseFilename == path for h in files):
        os.makedirs(output_dir, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(
            logging.Formatter("[%(asctime)s %(name)s]: %(message)s", "%m/%d %H:%M:%S")
        )
        logger.addHandler(handler)
    return logger


def setup(cfg, args) -> None:
    """``default_setup(cfg, args)`` with the environment, command line and config text written to
    ``log.txt`` only (without colour codes), and warnings raised from now on routed there too."""
    d2 = logging.getLogger("detectron2")
    hold = _HoldBack()
    d2.addFilter(hold)
    try:
        default_setup(cfg, args)
    finally:
        d2.removeFilter(hold)
    out = details(cfg.train.get("output_dir"))
    for text in hold.held:
        out.info(text)
    logging.captureWarnings(True)  # warnings -> logger "py.warnings" -> log.txt only
    warn = logging.getLogger("py.warnings")
    warn.propagate = False
    warn.handlers = list(out.handlers)
