"""The one error type for mistakes a user can make (bad files, bad params, no source)."""


class PipelineError(Exception):
    """A user-facing failure: one line naming the file or key and what was expected."""
