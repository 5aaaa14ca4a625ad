"""The Pulumi program: config → one component per hosting backend → DNS records → outputs."""

import sys
from pathlib import Path

import pulumi

# The project's packages sit beside this file; a runner may start it from another directory.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from components.program import deploy, load, outputs  # noqa: E402

settings = load()
deploy(settings, pulumi.get_stack())
pulumi.export("domains", outputs(settings.deployment, pulumi.get_stack()))
