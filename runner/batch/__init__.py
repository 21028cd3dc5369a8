"""Batch calls: many contacts from one profile, each called exactly once.

Modules, one job each: ``contacts`` streams rows, ``phone`` normalises numbers, ``ledger`` keeps
the durable per-row state, ``lock`` keeps a second process off the same batch, ``pacing`` shares
one token bucket, ``window`` and ``dnc`` are the guardrails, ``identity`` names a batch,
``report`` summarises, and ``engine`` ties them together. No click here; ``runner/cli`` prints.
"""
