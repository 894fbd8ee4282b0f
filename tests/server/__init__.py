"""Tests of the therapist server; a package so that its conftest does not shadow tests/conftest.py."""
