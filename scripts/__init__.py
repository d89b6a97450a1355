"""Delivery scripts: the smoke test and Lambda helpers the CI pipeline and developers share."""
