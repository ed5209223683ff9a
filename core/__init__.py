"""The runtime rules every adapter executes, kept apart from the contract package.

``sinkkit.conformance`` says what a Sink must do and checks it; this package is what the
reference adapters (and any adapter that wants to) call to do it the same way:

- ``schemas``: the published document shapes (JSON Schema) and ``precheck``, their fast path;
- ``rules``: input validation and case folding applied before any write;
- ``queries``: accepted query keys and how values compare;
- ``views``: list views, listing order, rollups, review messages;
- ``clock``: the one millisecond clock and its ISO form;
- ``sessions``: express-session expiry rules a SessionStore inherits.
"""
