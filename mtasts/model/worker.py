"""Kept for existing imports: the policy Worker's script model is ``mtasts.model.policy_worker``."""

from mtasts.model.policy_worker import *  # noqa: F403
from mtasts.model.policy_worker import __all__ as __all__
