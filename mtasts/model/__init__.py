"""The deployment model: a stack file, validated, as a frozen ``Deployment`` of ``Domain``\\ s.

Builds on ``mtasts.rfc``; needs PyYAML. The Pulumi components and every command read stacks here.
"""

from mtasts.model.config import ConfigError, Deployment, Domain, load_config, load_stack

__all__ = ["ConfigError", "Deployment", "Domain", "load_config", "load_stack"]
