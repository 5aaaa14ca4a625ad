"""The commands (``plan``, ``serve``, ``verify``) and the command line that runs them.

Each command builds on ``mtasts.model`` and ``mtasts.rfc``; nothing below imports a command.
"""
