"""``python examples/bridge-python`` runs the peer."""

from peer import main

main()
