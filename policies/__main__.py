"""The CrossGuard pack: `pulumi preview --policy-pack policies` runs this file."""

from mtasts_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="mta-sts", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
