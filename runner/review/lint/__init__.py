"""Lint rules: questionable but schema-valid profiles, judged by the API's semantics.

Each rule is one small function in ``runner.review.lint.rules`` with a stable code, a severity and a
one-line explanation (``RULES``). Rules of three scopes:

- ``file``: judge one file on its own (a literal password, a plain-http callback URL);
- ``effective``: judge the merged profile of each runnable profile, because the API sees the
  merge (AMD tuning in a fragment counts as set when the child leaves AMD off), and report at
  the file and line that set the offending value, so a fragment's finding appears once, not once
  per child;
- ``store``: judge the directory as a whole (a fragment nothing extends).

A finding is silenced by ``# callprofile: ignore[CODE]`` on its line, or on a comment-only line
directly above it (``runner.review.lint.ignore``).
"""

from runner.review.lint.engine import lint_profiles
from runner.review.lint.registry import Rule, rule_table
from runner.review.lint.rules import RULES

__all__ = ["RULES", "Rule", "lint_profiles", "rule_table"]
