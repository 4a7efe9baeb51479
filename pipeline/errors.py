"""The one base of every error a user can cause: a bad path, file, config key or data set.

Each subclass's message names the file (or key) and the problem. The command line prints such an
error as one line and exits 2; any other exception is a bug in debris, and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in what the user gave; str(e) is the whole message."""


class MissingPackage(UserError, ImportError):
    """An optional package a command needs is not installed; the message says which extra brings it."""
