"""Campaigns: the calling policy a profile declares, the built-in rules table with citations,
consent evidence, and the verdict for each number (see docs/guide/campaigns.md)."""
