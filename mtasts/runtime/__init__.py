"""Local Workers runtimes: workerd alone (the policy Worker) and miniflare (Workers with D1 and R2).

Launchers, not commands: ``serve``, the tests and the benchmarks run Workers through them.
"""
