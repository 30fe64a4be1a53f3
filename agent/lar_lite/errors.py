"""Errors of lar-lite and its runtime set-up; each carries a one-line message for the user."""


class LarLiteError(Exception):
    """Root of lar-lite's errors: a user-fixable problem, reported as one line."""


class RuntimeSetupError(LarLiteError):
    """The MegEngine Lite runtime cannot be fetched, verified or unpacked."""


class UnsupportedPlatformError(RuntimeSetupError):
    """The official wheel only runs on x86-64 Linux."""


class RuntimeMissingError(LarLiteError):
    """The runtime is not in its cache folder (``make lite-runtime`` was not run)."""


class UsageError(LarLiteError):
    """Bad command line: unknown flag, missing value, wrong type."""


class InputSpecError(LarLiteError):
    """A ``--input`` item cannot be parsed or does not fit the model's input."""


class EngineError(LarLiteError):
    """MegEngine Lite reported an error (bad model, failed dump, kernel failure)."""
