"""Pipeline submissions: check the graph, then validate every step with its kind's own request type and
service, an earlier step's output standing in as an input not probed yet (as a URL input does).

Nothing is created here: `prepare` returns the pipeline row and one task item per step, which the
gateway creates in one transaction (quota reservations of every step, deliveries, idempotency).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from videoapi.assets.service import placeholder_inputs
from videoapi.auth.principal import Principal
from videoapi.db.base import utcnow
from videoapi.destinations.service import DestinationService
from videoapi.editing.kinds import KINDS as EDIT_KINDS
from videoapi.editing.service import EditingService
from videoapi.errors import AppError, Forbidden, InvalidRequest
from videoapi.gateway.scopes import has_scope
from videoapi.gateway.service import Item, PipelineSubmission
from videoapi.generation.kinds import KINDS as GENERATION_KINDS
from videoapi.generation.service import GenerationService
from videoapi.pipelines.schemas import PipelineIn, StepIn
from videoapi.speech.captions import CAPTIONS
from videoapi.speech.schemas import CaptionsRequest, TranscribeRequest
from videoapi.speech.service import KIND as TRANSCRIBE
from videoapi.speech.service import SpeechService
from videoapi.tasks.models import Pipeline
from videoapi.tasks.pipelines import Binding
from videoapi.tasks.service import RetriedPipeline, TaskService
from videoapi.tasks.states import Status
from videoapi.templates.schemas import RenderRequest
from videoapi.templates.service import TemplateService

TEMPLATE_RENDER = "template.render"
OWNED_BY_PIPELINE = ("priority", "webhook_url", "destinations")
_AT = re.compile(r" - at `\$\.?([^`]*)`")

Media = Literal["video", "image", "audio", "subtitles"]
Path = tuple[str | int, ...]


class TemplateRenderParams(RenderRequest, forbid_unknown_fields=True, kw_only=True):
    """A `template.render` step: the template and the body of POST /v1/video/templates/{id}/render."""

    template_id: str


@dataclass(frozen=True)
class StepKind:
    request_type: type
    output: Media
    """What the step's main output is, checked against the inputs that read it."""
    prepare: Callable[[Principal, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Ref:
    """`{"step": ...}` found in a step's params."""

    path: Path
    step: str
    output: int
    expects: Media | tuple[Media, ...]


class PipelineService:
    def __init__(
        self,
        tasks: TaskService,
        destinations: DestinationService,
        edits: EditingService,
        generations: GenerationService,
        speech: SpeechService,
        templates: TemplateService,
    ) -> None:
        self.tasks = tasks
        self.destinations = destinations
        kinds: dict[str, StepKind] = {}
        for spec in EDIT_KINDS.values():
            made: Media = "image" if spec.kind in ("edit.thumbnails", "analyze.scenes") else "video"
            kinds[spec.kind] = StepKind(spec.request_type, made, _bind(edits.prepare, spec.kind))
        for gen in GENERATION_KINDS.values():
            kinds[gen.kind] = StepKind(gen.request_type, "video", _bind(generations.prepare, gen.kind))
        kinds[TRANSCRIBE] = StepKind(TranscribeRequest, "subtitles", speech.prepare)
        kinds[CAPTIONS.kind] = StepKind(CaptionsRequest, "video", speech.prepare_captions)

        async def render(principal: Principal, req: TemplateRenderParams) -> dict[str, Any]:
            body = RenderRequest(**{f: getattr(req, f) for f in RenderRequest.__struct_fields__})
            return await templates.prepare_render(principal, req.template_id, body)

        kinds[TEMPLATE_RENDER] = StepKind(TemplateRenderParams, "video", render)
        self.kinds = kinds

    async def prepare(self, principal: Principal, req: PipelineIn) -> PipelineSubmission:
        """Validate the graph and every step; 422 naming `steps[i]...` on the first problem."""
        index = _check_ids(req.steps)
        for i, step in enumerate(req.steps):
            # The route takes either scope; each step needs the one its own create route needs.
            needed = "generate" if step.kind.startswith("generate.") else "edit"
            if not has_scope(principal.scopes, (needed,)):
                raise Forbidden(
                    f"steps[{i}].kind: {step.kind} needs the scope {needed}; the credentials carry "
                    f"{sorted(principal.scopes)}",
                    code="insufficient_scope",
                    errors=[{"field": f"steps[{i}].kind", "message": f"needs the scope {needed}"}],
                )
        refs = [self._refs(i, step, index, req.steps) for i, step in enumerate(req.steps)]
        order = _topological(req.steps, refs)
        pipeline_id = str(uuid.uuid4())
        task_ids = {step.id: str(uuid.uuid4()) for step in req.steps}
        items: dict[int, Item] = {}
        for i in order:
            items[i] = await self._prepare_step(principal, req, i, refs[i], task_ids)
        read = {r.step for step_refs in refs for r in step_refs}
        now = utcnow()
        pipeline = Pipeline(
            id=pipeline_id,
            owner_id=principal.owner_id,
            status="running",
            steps=[{"id": s.id, "task_id": task_ids[s.id]} for s in req.steps],
            webhook_url=req.webhook_url,
            created_at=now,
            updated_at=now,
        )
        for item in items.values():
            item.kwargs["pipeline_id"] = pipeline_id
        return PipelineSubmission(
            pipeline=pipeline,
            items=[items[i] for i in range(len(req.steps))],
            sinks=[i for i, s in enumerate(req.steps) if s.id not in read],
            destinations=[d.id for d in req.destinations or []],
        )

    async def retry(self, owner_id: str, pipeline_id: str) -> RetriedPipeline:
        """Run the failed and canceled steps again; the final steps' skipped deliveries wait for them."""
        retried = await self.tasks.retry_pipeline(pipeline_id, owner_id)
        await self.destinations.rearm(retried.task_ids)
        return retried

    def _refs(self, i: int, step: StepIn, index: dict[str, int], steps: list[StepIn]) -> list[Ref]:
        spec = self.kinds.get(step.kind)
        if spec is None:
            raise _invalid(
                f"steps[{i}].kind",
                f"unknown kind {step.kind!r}; known: {', '.join(sorted(self.kinds))}",
                code="unknown_kind",
            )
        for name in OWNED_BY_PIPELINE:
            if name in step.params:
                raise _invalid(f"steps[{i}].params.{name}", f"`{name}` is set on the pipeline, not on a step")
        found: list[Ref] = []
        for path, ref, parent in _walk_refs(step.params):
            where = _field(i, path)
            if not path:
                raise _invalid(where, "the params are a request body; a reference goes where an input goes")
            target = ref.get("step")
            output = ref.get("output", 0)
            if not isinstance(target, str) or target not in index:
                raise _invalid(where, f"no step {target!r} in this pipeline", code="unknown_step")
            if target == step.id:
                raise _invalid(where, f"step {step.id!r} reads its own output", code="pipeline_cycle")
            if not isinstance(output, int) or isinstance(output, bool) or output < 0:
                raise _invalid(where, "`output` is the index of an output: an integer from 0")
            merged = step.kind == TEMPLATE_RENDER and len(path) == 2 and path[0] == "merge"
            expects: Media | tuple[Media, ...] = ("video", "image", "audio") if merged else _expected(path, parent)
            producer = steps[index[target]].kind
            made = self.kinds[producer].output
            accepted = expects if isinstance(expects, tuple) else (expects,)
            if made not in accepted:
                raise _invalid(
                    where,
                    f"step {target!r} ({producer}) makes {made}; this input takes {' or '.join(accepted)}",
                    code="step_output_mismatch",
                )
            found.append(Ref(path, target, output, expects))
        return found

    async def _prepare_step(
        self, principal: Principal, req: PipelineIn, i: int, refs: list[Ref], task_ids: dict[str, str]
    ) -> Item:
        step = req.steps[i]
        spec = self.kinds[step.kind]
        params: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(step.params))  # a deep copy
        placeholders: dict[str, Ref] = {}
        for ref in refs:
            token = f"pipeline-step-{uuid.uuid4().hex}"
            placeholders[token] = ref
            # A template's `asset` field takes an asset id, which the template puts in an input.
            merged = step.kind == TEMPLATE_RENDER and len(ref.path) == 2 and ref.path[0] == "merge"
            _put(params, ref.path, token if merged else _placeholder(ref, token))
        params["priority"] = req.priority
        prefix = f"steps[{i}].params"
        try:
            typed = msgspec.convert(params, spec.request_type)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _AT.search(message)
            text = _AT.sub("", message)
            where = f"{prefix}.{match.group(1)}" if match and match.group(1) else prefix
            raise _invalid(where, text) from None
        try:
            with placeholder_inputs(t for t, r in placeholders.items() if r.expects != "subtitles"):
                kwargs = await spec.prepare(principal, typed)
        except AppError as exc:
            raise _prefixed(exc, prefix) from None
        bindings: list[dict[str, Any]] = []
        for path, token in _find_tokens(kwargs["params"], placeholders):
            ref = placeholders.pop(token)
            binding = Binding(
                list(path), task_ids[ref.step], ref.output, "srt" if ref.expects == "subtitles" else "asset"
            )
            bindings.append(msgspec.to_builtins(binding))
        if placeholders:  # e.g. a template field that turned the reference into something else
            ref = next(iter(placeholders.values()))
            raise _invalid(_field(i, ref.path), "a step's output cannot be used here")
        depends = list(dict.fromkeys(task_ids[r.step] for r in refs))
        kwargs.pop("destinations", None)
        kwargs.update(
            id=task_ids[step.id],
            step_id=step.id,
            depends_on=depends,
            bindings=bindings,
            webhook_url=None,  # the pipeline's own webhook announces its end
            status=Status.WAITING if depends else Status.QUEUED,
        )
        return Item(kwargs, field_prefix=f"steps[{i}].")


def _bind(prepare: Callable[[Principal, str, Any], Awaitable[dict[str, Any]]], kind: str) -> Any:
    async def bound(principal: Principal, req: Any) -> dict[str, Any]:
        return await prepare(principal, kind, req)

    return bound


def _check_ids(steps: list[StepIn]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step.id in index:
            raise _invalid(f"steps[{i}].id", f"step id {step.id!r} is already the id of steps[{index[step.id]}]")
        index[step.id] = i
    return index


def _topological(steps: list[StepIn], refs: list[list[Ref]]) -> list[int]:
    """Step indexes, each after the steps it reads; a cycle is a 422 naming a reference in it."""
    index = {s.id: i for i, s in enumerate(steps)}
    state: dict[int, str] = {}
    order: list[int] = []

    def visit(i: int) -> None:
        state[i] = "open"
        for ref in refs[i]:
            j = index[ref.step]
            if state.get(j) == "open":
                raise _invalid(
                    _field(i, ref.path),
                    f"steps {steps[i].id!r} and {ref.step!r} read each other (a cycle)",
                    code="pipeline_cycle",
                )
            if j not in state:
                visit(j)
        state[i] = "done"
        order.append(i)

    for i in range(len(steps)):
        if i not in state:
            visit(i)
    return order


def _walk_refs(value: Any, path: Path = (), parent: Any = None) -> Iterator[tuple[Path, dict[str, Any], Any]]:
    """(path, reference, the dict or list holding it) of every `{"step": ...}` in `value`."""
    if isinstance(value, dict):
        if "step" in value and set(value) <= {"step", "output"}:
            yield path, value, parent
            return
        for key, item in value.items():
            yield from _walk_refs(item, (*path, key), value)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _walk_refs(item, (*path, n), value)


def _expected(path: Path, parent: Any) -> Media | tuple[Media, ...]:
    """What an input at `path` takes: from a timeline clip's `type`, else from the field's name."""
    key = path[-1] if path else ""
    if key in ("srt",):
        return "subtitles"
    if isinstance(parent, dict) and parent.get("type") in ("video", "image", "audio"):
        clip_type = parent["type"]
        return ("audio", "video") if clip_type == "audio" else clip_type
    if key == "image":
        return "image"
    if key in ("audio", "music", "narration"):
        return ("audio", "video")
    return ("video", "audio") if key == "input" else "video"


def _placeholder(ref: Ref, token: str) -> Any:
    if ref.expects == "subtitles":
        # A valid cue, so that the subtitles request checks as it will with the real transcript.
        return f"1\n00:00:00,000 --> 00:00:01,000\n{token}\n"
    return {"asset_id": token}


def _find_tokens(value: Any, tokens: dict[str, Ref], path: Path = ()) -> Iterator[tuple[Path, str]]:
    if isinstance(value, dict):
        asset_id = value.get("asset_id")
        if isinstance(asset_id, str) and asset_id in tokens:
            yield path, asset_id
            return
        for key, item in value.items():
            yield from _find_tokens(item, tokens, (*path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _find_tokens(item, tokens, (*path, n))
    elif isinstance(value, str) and value.startswith("1\n00:00:00,000 --> 00:00:01,000\npipeline-step-"):
        token = value.splitlines()[2]
        if token in tokens:
            yield path, token


def _put(root: Any, path: Path, value: Any) -> None:
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


def _field(i: int, path: Path) -> str:
    where = f"steps[{i}].params"
    for key in path:
        where += f"[{key}]" if isinstance(key, int) else f".{key}"
    return where


def _invalid(field: str, message: str, code: str = "invalid_request") -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", code=code, errors=[{"field": field, "message": message}])


def _prefixed(exc: AppError, prefix: str) -> AppError:
    """A step's own error, with its fields under `steps[i].params`."""
    errors = [{**e, "field": f"{prefix}.{e['field']}" if e.get("field") else prefix} for e in exc.errors or []] or [
        {"field": prefix, "message": exc.detail}
    ]
    return type(exc)(f"{prefix}: {exc.detail}", code=exc.code, status=exc.status, errors=errors, headers=exc.headers)
