"""Tests of the Helm charts in charts/ with the real Helm SDK."""
