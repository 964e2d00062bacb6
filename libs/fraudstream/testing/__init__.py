"""Test doubles and sample data that ship with the library.

Used by fraudstream's own tests and available to anyone testing code built on it:
sample records (:mod:`fraudstream.testing.samples`) and small dataset files in the
real column layouts (:mod:`fraudstream.testing.files`).
"""
