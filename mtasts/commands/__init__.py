"""The commands (``plan``, ``serve``, ``verify``, ``reports``, ``wait-live``, ``readiness``) and the CLI.

Each command builds on the layers below (``rfc``, ``model``, ``probes``, ``checks``); nothing
below imports a command.
"""
