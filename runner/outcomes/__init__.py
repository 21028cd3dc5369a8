"""Call outcomes: what happened after Telnyx accepted a call.

Modules, one job each: ``verify`` checks Telnyx's Ed25519 webhook signatures, ``callbacks`` turns
a TeXML form callback or a JSON webhook into one :class:`~runner.outcomes.callbacks.Callback`,
``record`` folds a call's callbacks into its outcome (monotonic, order-independent), ``http11``
is the small HTTP/1.1 reader the receiver needs, ``receiver`` serves callbacks (verify, parse,
record, answer), ``writer`` commits them to the ledger in groups, ``journal`` is the receiver's
log, ``calls_api`` reads Telnyx's call list and ``reconcile`` settles ``unknown`` rows from it.
Its diagnostics (CP700-CP749) are registered in ``runner.codes``. No click here; ``runner/cli``
prints.
"""
