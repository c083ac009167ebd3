"""The one exception type users see: a clear, single-line message, never a traceback."""


class VecsearchError(Exception):
    """A problem with the user's input or environment, reported as one line."""
