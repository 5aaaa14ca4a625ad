"""Pulumi components for MTA-STS hosting and DNS; ``mtasts`` holds the model they build from.

Type tokens are ``mta-sts:index:<Class>``. The provider SDKs are imported by the submodules,
so ``components.program`` can validate config before paying for them.
"""
