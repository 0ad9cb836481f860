"""The ``streamscribe`` command line (also ``run.py`` in a checkout): parse, load, hand over.

``cli.main`` builds the parser and dispatches; ``cli.options`` turns the configuration schema
into flags and the flags into overrides; ``cli.commands`` hands each command to the code that
does the work (``workers``, ``pipeline``) and prints what that code renders.
"""
