"""Tooling around the contract: the CI lane table and the parity report runner (not contract)."""
