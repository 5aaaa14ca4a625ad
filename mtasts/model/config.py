"""The stack config loader's public names, in one place (kept for existing imports).

The loader is split by job: ``domain`` (``Domain``, ``Record``, ``Deployment``), ``validators``
(the per-key table ``SETTINGS``: how to add a setting is in its docstring), ``loader``
(``load_config``, ``build_domain``), ``rules`` (the rules across settings and domains) and ``stackfile``
(reading the YAML files).
"""

from mtasts.model.domain import AUTO_TTL, HOST_TTL, TXT_TTL, WORKER_ORIGIN, Deployment, Domain, Record
from mtasts.model.errors import ConfigError
from mtasts.model.loader import TOP_KEYS, build_domain, load_config, load_stack
from mtasts.model.stackfile import NAMESPACE, find_project_dir, project_defaults, read_yaml, stack_config
from mtasts.model.validators import (
    DEFAULTS,
    DNS_PROVIDERS,
    DOMAIN_ONLY_KEYS,
    HOSTINGS,
    ROUTINGS,
    SETTINGS,
)
from mtasts.rfc.policy import MODES

__all__ = [
    "AUTO_TTL",
    "DEFAULTS",
    "DNS_PROVIDERS",
    "DOMAIN_ONLY_KEYS",
    "HOSTINGS",
    "HOST_TTL",
    "MODES",
    "NAMESPACE",
    "ROUTINGS",
    "SETTINGS",
    "TOP_KEYS",
    "TXT_TTL",
    "WORKER_ORIGIN",
    "ConfigError",
    "Deployment",
    "Domain",
    "Record",
    "build_domain",
    "find_project_dir",
    "load_config",
    "load_stack",
    "project_defaults",
    "read_yaml",
    "stack_config",
]
