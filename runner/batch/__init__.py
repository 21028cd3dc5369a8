"""Batch calls: many contacts from one profile, each called exactly once.

Modules, one job each: ``contacts`` streams rows, ``rows`` turns one into a validated request,
``phone`` normalises numbers, ``ledger`` keeps the durable per-row state, ``lock`` keeps a second
process off the same batch, ``pacing`` shares one token bucket, ``budget`` enforces
``--max-calls``, ``stopping`` handles Ctrl-C, ``window`` and ``dnc`` are the guardrails,
``identity`` names a batch, ``report`` summarises, ``dryrun`` validates without sending, and
``engine`` ties them together. No click here; ``runner/cli`` prints.
"""
