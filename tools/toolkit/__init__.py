"""What the tools share and the library does not need: the pool of training runs
(``jobs``), running and reading ``train_net.py`` runs (``runs``) and what the pictures of
``tools/visualize.py`` show (``vis``). Importable from the tools, whose directory is on
``sys.path`` when they run, and from the tests (``tests/conftest.py`` adds it)."""
