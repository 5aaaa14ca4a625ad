"""The Pulumi program: config → one component per hosting backend → DNS records → outputs."""

import pulumi

from components.program import deploy, load, outputs

settings = load()
deploy(settings, pulumi.get_stack())
pulumi.export("domains", outputs(settings.deployment, pulumi.get_stack()))
