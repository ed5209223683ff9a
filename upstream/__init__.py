"""Upstream lanes: the conformance suite against git-proxy's own sinks, from a git-proxy checkout.

``prepare`` makes a checkout runnable (node dependencies), ``host/host.ts`` serves its sink over
the bridge protocol, ``harness`` runs it under the suite with the divergences recorded in
``divergences/<lane>.json``, and ``docgen`` renders those records into ``docs/upstream.md``.
"""
