"""gitproxy-sinkkit: a conformance kit and reference adapters for git-proxy's Sink.

``sinkkit.conformance`` holds the contract and the suite, ``sinkkit.adapters`` the reference
adapters, ``sinkkit.fixtures`` the provisioning of real backends for the suite.
"""

__version__ = "0.1.0"
SUITE_VERSION = "1.0"
