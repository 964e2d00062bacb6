"""Promotion: compare champion and challenger on one labelled window, move the alias.

A workflow above the registry client (:mod:`fraudstream.registry`) and training
(:mod:`fraudstream.training`): :mod:`~fraudstream.promotion.decision` decides,
:mod:`~fraudstream.promotion.aliases` moves the ``champion`` alias and publishes the
event, :mod:`~fraudstream.promotion.compare` measures both and calls the two, and
:mod:`~fraudstream.promotion.leakage` says from when a transaction is unseen by a
model. :mod:`~fraudstream.promotion.holdout` measures one registered model on a
held-out period (``fraudstream evaluate``).
"""
