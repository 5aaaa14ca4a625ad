"""Run the Pulumi program (or any callable that registers resources) under Pulumi's mocks.

A reusable harness, for this project's tests, the policy-pack tests and outside checks::

    from tests.program_mocks import run_stack, run_program

    run = run_stack("dev")                      # __main__.py with Pulumi.dev.yaml (+ Pulumi.yaml defaults)
    run = run_program({"mta-sts:domains": {...}, "mta-sts:cloudflareAccountId": "…"})
    run.error                                   # the exception the program raised, or None
    run.resources                               # every registered resource, in registration order
    run.by_name("example.com-sts").inputs      # inputs as the mocks receive them (camelCase)
    run.by_name("example.com-sts").options.depends_on   # URNs
    run.by_name("example.com-sts").options.hooks        # {"before_create": ("mta-sts-live-gate",), …}
    run.outputs["domains"]                      # resolved stack outputs
    run.calls                                   # provider function calls (the zone lookups)
    run.warnings                                # messages the program logged with pulumi.log.warn
    run.hooks["mta-sts-live-gate"].on_dry_run   # resource hooks as registered

Runs use ``preview=False``, so every output is known and every ``apply`` runs. Each run starts
from a fresh root stack, config and monitor; the provider SDKs are imported once per process.

``Resource.inputs`` are what the engine would send a provider and what a CrossGuard policy sees
as ``props``. ``Resource.options`` are read from the very ``RegisterResource`` request the SDK
sends, so ``depends_on`` is the engine's view: explicit ``depends_on`` plus the resources the
inputs refer to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import runpy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

from mtasts.model.config import NAMESPACE, stack_config

ROOT = Path(__file__).resolve().parent.parent

PROJECT = "mta-sts"
PROGRAM = ROOT / "__main__.py"
GET_ZONE = "cloudflare:index/getZone:getZone"
HOOK_KINDS = (
    "before_create",
    "after_create",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
)


def mock_zone_id(zone: str) -> str:
    """The zone id the mocks answer a lookup of ``zone`` with: 32 hex digits, stable."""
    return hashlib.sha256(f"zone:{zone}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Options:
    """Resource options as the ``RegisterResource`` request carries them."""

    parent: str | None
    """Parent URN; None for a child of the root stack."""
    depends_on: tuple[str, ...]
    """URNs this resource waits for (explicit ``depends_on`` and input references)."""
    property_dependencies: Mapping[str, tuple[str, ...]]
    delete_before_replace: bool | None
    """None when the option was not given."""
    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    aliases: tuple[str, ...]
    provider: str | None
    hooks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Resource hook names by kind (``before_create``, ``before_update``…), as registered."""
    error_hooks: tuple[str, ...] = ()
    """Error hook names (``on_error``): the engine asks them whether to retry a failed operation."""
    replace_on_changes: tuple[str, ...] = ()
    """Input names whose change replaces the resource instead of updating it."""


@dataclass(frozen=True)
class Resource:
    """One registered resource: custom resources and components alike."""

    type: str
    name: str
    urn: str
    id: str | None
    custom: bool
    inputs: Mapping[str, Any]
    """Inputs as the mocks receive them: camelCase keys, outputs resolved."""
    options: Options

    @property
    def parent(self) -> str | None:
        return self.options.parent


@dataclass(frozen=True)
class Call:
    """One provider function call (invoke)."""

    token: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class Hook:
    """A resource hook as registered with the engine (``RegisterResourceHook``)."""

    name: str
    on_dry_run: bool
    """Whether the engine runs it during ``pulumi preview``."""
    ignore_errors: bool
    callback: Callable[[bytes], Awaitable[Any]] | None = field(default=None, compare=False)
    """What the engine invokes: a serialized ``ResourceHookRequest`` in, a response out."""


@dataclass
class ProgramRun:
    """What a program registered, called, logged and exported."""

    resources: list[Resource] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: BaseException | None = None
    hooks: dict[str, Hook] = field(default_factory=dict)
    """Resource hooks the program registered, by name."""

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def by_name(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    @property
    def urns(self) -> set[str]:
        return {r.urn for r in self.resources}

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.options.parent == parent.urn]


class ProgramMocks(pulumi.runtime.Mocks):
    """Outputs equal to inputs plus what providers compute that the program reads."""

    def __init__(self, run: ProgramRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "github:index/repository:Repository":
            outputs.setdefault("fullName", f"example-org/{args.inputs.get('name')}")
            outputs.setdefault("defaultBranch", "main")
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.run.calls.append(Call(args.token, dict(args.args)))
        if args.token == GET_ZONE:
            name = (args.args.get("filter") or {}).get("name") or ""
            zone_id = mock_zone_id(name)
            return {"id": zone_id, "zoneId": zone_id, "name": name, "status": "active"}, []
        return {}, []


def _registered_callback(token: str) -> Callable[[bytes], Awaitable[Any]] | None:
    """The SDK's callback for ``token``, while its callback server is up.

    Private on purpose: the tests call the gRPC callback the engine would call (request bytes in,
    response out), and no public API maps the token in a ``RegisterResourceHook`` request to it;
    ``pulumi.ResourceHook.callback`` is the Python function before that wrapping.
    """
    from pulumi.runtime._callbacks import _CallbackServicer

    for servicer in _CallbackServicer._servicers:
        if token in servicer._callbacks:
            return servicer._callbacks[token]  # type: ignore[no-any-return]
    return None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping each ``RegisterResource`` request's options."""

    def __init__(self, mocks: ProgramMocks, run: ProgramRun) -> None:
        super().__init__(mocks)
        self.run = run

    def RegisterResourceHook(self, request):  # noqa: N802 (the gRPC method name)
        self.run.hooks[request.name] = Hook(
            request.name,
            request.on_dry_run,
            request.ignore_errors,
            _registered_callback(request.callback.token),
        )
        return super().RegisterResourceHook(request)

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        from pulumi.runtime import rpc

        inputs = rpc.deserialize_properties(request.object)
        options = Options(
            parent=request.parent or None,
            depends_on=tuple(request.dependencies),
            property_dependencies={
                key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()
            },
            delete_before_replace=(
                request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None
            ),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=tuple(request.ignoreChanges),
            aliases=tuple(request.aliasURNs),
            provider=request.provider or None,
            hooks={
                kind: tuple(getattr(request.hooks, kind))
                for kind in HOOK_KINDS
                if request.HasField("hooks") and getattr(request.hooks, kind)
            },
            error_hooks=tuple(request.hooks.on_error) if request.HasField("hooks") else (),
            replace_on_changes=tuple(request.replaceOnChanges),
        )
        self.run.resources.append(
            Resource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                id=response.id or None,
                custom=bool(request.custom),
                inputs=inputs,
                options=options,
            )
        )
        return response


class _WarningHandler(logging.Handler):
    def __init__(self, run: ProgramRun) -> None:
        super().__init__(level=logging.WARNING)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.run.warnings.append(record.getMessage())


def pulumi_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A config mapping as the engine hands it to a program: full keys, objects as JSON text.

    Bare keys (``domains``) are put in the project's namespace (``mta-sts:domains``).
    """
    values: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        values[full] = value if isinstance(value, str) else json.dumps(value)
    return values


def run(
    program: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    *,
    stack: str = "dev",
    project: str = PROJECT,
) -> ProgramRun:
    """Run ``program`` under mocks with ``config`` (see ``pulumi_config``); never raises.

    The program's exception, if any, is in ``ProgramRun.error``.
    """
    result = ProgramRun()
    # The SDK registers resources on the thread's current event loop; an earlier asyncio.run
    # in the same process (verify, plan --check-mx) leaves none behind.
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = ProgramMocks(result)
    logger = logging.getLogger(f"{__name__}.run{id(result)}")
    logger.propagate = False
    logger.addHandler(_WarningHandler(result))
    # A fresh root stack, so outputs of earlier runs do not carry over: set_mocks makes one only
    # when there is none, and pulumi.runtime exports get_root_resource but no way to reset it.
    pulumi_settings.set_root_resource(None)
    pulumi.runtime.set_all_config(pulumi_config(config or {}), [])
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=False,
        logger=logger,
        monitor=RecordingMonitor(mocks, result),
    )
    root = pulumi.runtime.get_root_resource()

    @pulumi.runtime.test  # runs body, awaits the Output it returns, then waits for every RPC
    def body() -> pulumi.Output[None]:
        program()
        outputs = pulumi.Output.from_input(getattr(root, "outputs", {}))
        return outputs.apply(lambda resolved: result.outputs.update(resolved or {}))

    try:
        body()
    except BaseException as exc:  # noqa: BLE001 (reported to the caller, not raised)
        result.error = exc
    finally:
        logger.handlers.clear()
        pulumi.runtime.set_all_config({}, [])
    return result


def run_program(config: Mapping[str, Any], *, stack: str = "dev", program: Path = PROGRAM) -> ProgramRun:
    """Run ``__main__.py`` (or another program file) under mocks with a stack config mapping.

    ``config`` uses the keys of ``Pulumi.<stack>.yaml`` (``mta-sts:domains``, ``github:owner``,
    or bare project keys); values are plain Python values.
    """
    return run(lambda: runpy.run_path(str(program), run_name="__main__"), config, stack=stack)


def stack_file_config(stack: str, project_dir: Path = ROOT) -> dict[str, Any]:
    """``Pulumi.<stack>.yaml`` over ``Pulumi.yaml``'s defaults, as the CLI passes them."""
    return pulumi_config(stack_config(project_dir, stack))


def run_stack(stack: str, project_dir: Path = ROOT) -> ProgramRun:
    """Run ``__main__.py`` under mocks with the config of ``Pulumi.<stack>.yaml``."""
    return run_program(stack_file_config(stack, project_dir), stack=stack)
