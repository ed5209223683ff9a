"""The conformance suite: one module per resource. Run it with
``pytest --pyargs sinkkit.conformance.suite --sinkkit-harness NAME``.

(No imports here: this package may also be imported under a second name by path-based
collection, and must not duplicate the clause registry when it is.)
"""
