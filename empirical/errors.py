"""Errors meant for the user: the CLI prints their message as one line and exits non-zero."""


class UserError(ValueError):
    """Bad input from the user (argument, file, key); the message names the problem."""


class CorruptResumePoint(UserError):
    """A training resume point (``train_state.safetensors``) that fails its checksum."""
