"""The ``simkeep`` command line: thin commands, one module per area."""
