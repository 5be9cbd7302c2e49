"""Thin command-line tools; the logic lives in the library packages."""
