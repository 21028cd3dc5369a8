"""The one exit-code table shared by every command (docs/reference/exit-codes.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INVALID = 1  # invalid profile/template/overrides/input; validate found errors; diff changes
    USAGE = 2  # unknown flag, missing argument, bad revision
    INTERNAL = 3  # a bug: short message plus the path of a log with the traceback
    REJECTED = 4  # Telnyx answered 4xx; nothing was placed
    UNKNOWN = 5  # sent, but no trustworthy answer: the call may have been placed
    UNREACHABLE = 6  # not sent or not accepted for a transient reason (connect failure, 429s)
    INTERRUPTED = 130
