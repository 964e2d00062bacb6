"""Test doubles and sample data that ship with the library.

Used by fraudstream's own tests and available to anyone testing code built on it:
sample records (:mod:`fraudstream.testing.samples`), small dataset files in the real
column layouts (:mod:`fraudstream.testing.files`) and messy event streams
(:mod:`fraudstream.testing.streams`). Nothing here starts a process or talks to a
service; harnesses that do are :mod:`fraudstream.harness`. No product module imports
this package.
"""
