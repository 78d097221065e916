"""Reusable network blocks."""
