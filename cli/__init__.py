"""``sinkkit check`` and ``sinkkit copy``: the operator commands (see docs/operator-cli.md)."""
