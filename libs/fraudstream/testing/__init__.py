"""Test doubles and sample data that ship with the library.

Used by fraudstream's own tests and available to anyone testing code built on it:
sample records (:mod:`fraudstream.testing.samples`), small dataset files in the real
column layouts (:mod:`fraudstream.testing.files`), messy event streams
(:mod:`fraudstream.testing.streams`), a list source and sink that run a service's
step without Kafka (:mod:`fraudstream.testing.steps`), in-memory stand-ins for what
the scorer keeps in Redis or reads from the registry
(:mod:`fraudstream.testing.doubles`) and the scorer's step built on them
(:mod:`fraudstream.testing.scorer`). Nothing here starts a process or talks to a
service; harnesses that do are :mod:`fraudstream.harness`. No product module imports
this package.
"""
