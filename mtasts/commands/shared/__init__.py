"""What more than one command needs, so that no command imports another.

Not a command itself: the command-line helpers (``args``), the per-domain verify run over one
prober (``domain_check``), MX lookups (``mx``), the receiver's summary read (``receiver``) and the
readiness evidence gathered once for ``readiness`` and ``plan --base`` (``evidence``).
``tests/test_layers.py`` checks that commands import only these, never each other.
"""
