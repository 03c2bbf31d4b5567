"""Errors that reach the user as one line on stderr and exit code 2."""


class InputError(Exception):
    """Bad input: a file, field or value that is not what eniplan expects.

    The message names the place (file, field, option) and what was expected; the CLI
    prints it as one line and exits with code 2.
    """
