"""A kmock-based Kubernetes API emulator that kube-rs can talk to.

Used by tests/kube/kube_compat.rs as the independent backend (next to tollgate's own sandbox),
so that tollgate's client code is not tuned to the sandbox's quirks. Run it with the venv
made by tests/kmock/setup.sh:

    $VENV/bin/python tests/kmock/server.py [--namespace NS]... [--exit-on-stdin-eof]

It binds 127.0.0.1 on a free port and prints exactly one line, ``LISTENING 127.0.0.1:<port>``,
to stdout once it serves; then it serves until SIGTERM/SIGINT (or, with --exit-on-stdin-eof,
until its stdin closes, so that it never outlives a test process that was killed).

What is added on top of kmock 0.8's stock ``KubernetesEmulator`` (and why):

* ``metadata.resourceVersion`` (one global, monotonic counter, as etcd's revision), ``uid``,
  ``creationTimestamp`` and ``namespace`` (from the URL) are stamped on create; a new
  ``resourceVersion`` on every patch and on delete. kmock stores objects exactly as posted,
  and kube-runtime's watcher fails on objects without a resourceVersion.
* Error reasons: kmock answers 404 with ``reason: "Object Not Found"`` (and "Resource/Endpoint
  Not Found"), 409 with "Object Already Exists". kube-rs trusts a known reason over the code, so
  ``Status::is_not_found()`` was false and ``Api::get_opt`` failed on a missing object. They
  are rewritten to ``NotFound`` / ``AlreadyExists`` (the codes were right already).
* ``/api/v1/namespaces[/NAME]`` paths are parsed as the cluster-scoped ``namespaces`` resource:
  kmock 0.8 answers a namespace list with HTTP 500 (its URL parser raises ValueError) and takes
  ``/api/v1/namespaces/NAME`` for "namespace NAME, no resource", so Namespaces were unusable.
* Namespaces ``default``, ``kube-system``, ``kube-public`` and every ``--namespace`` exist
  from the start (kmock starts empty; a real cluster always has the first three).
* Pod logs. kmock 0.8 has no notion of container logs: ``GET .../pods/NAME/log`` falls through
  to its generic "fetch" and returns the Pod's JSON. Its only tool for this is a user reaction
  (``kmock[criteria] << payload``; live ``...`` streams fed by ``kmock[criteria][...] << b"..."``),
  which knows nothing of tailLines/follow/containers. So a reaction on the ``log`` subresource
  serves lines from a per-(namespace, pod, container) buffer here, with the parameters kube-rs
  sends: container, tailLines, limitBytes, sinceSeconds, timestamps, follow.
  Lines are injected by the test through a control endpoint on the same port (not a Kubernetes
  path, so it cannot clash with the API):

      POST /_kmock/logs/{namespace}/{pod}/{container}   body: {"lines": ["one", "two"]}

  Lines appended later are delivered to every open ``follow=true`` stream of that container.

Everything else is kmock as it is (label/field selectors ignored, lists without ``kind``,
watches that replay existing objects as ADDED, ...): the tests document and tolerate those.
"""

import argparse
import asyncio
import datetime
import json
import os
import re
import signal
import sys
import threading
import uuid
from typing import Any

import attrs
import kmock
from kmock._internal import enums, parsing

PODS = kmock.resource(group='', version='v1', plural='pods')
NAMESPACES = kmock.resource(group='', version='v1', plural='namespaces')
CONTROL_LOGS = re.compile(r'/_kmock/logs/([^/]+)/([^/]+)/([^/]+)')


_NAMESPACE_PATH = re.compile(r'/api/v1/namespaces(?:/([^/]+)(?:/(status|finalize))?)?/?')
_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    # kmock 0.8 reads "/api/v1/namespaces/NAME" as "namespace NAME, no resource", and fails on
    # "/api/v1/namespaces" (ValueError -> HTTP 500): Namespace objects cannot be listed, fetched
    # or watched. Parse the paths of the namespaces resource itself as a cluster-scoped resource.
    match = _NAMESPACE_PATH.fullmatch(path)
    if match is None:
        return _kmock_parse_path(path)
    return parsing.ParsedPath(group='', version='v1', plural='namespaces', namespace=None,
                              name=match.group(1), subresource=match.group(2))


parsing.parse_path = _parse_path


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _rfc3339(ts: datetime.datetime) -> str:
    return ts.strftime('%Y-%m-%dT%H:%M:%SZ')


def _rfc3339_nano(ts: datetime.datetime) -> str:
    return ts.strftime('%Y-%m-%dT%H:%M:%S.%f') + '000Z'


# kmock's own reasons for its errors -> the Kubernetes ones. kube-rs decides by the reason
# alone when it is a known one: `Status::is_not_found()` is false for "Object Not Found", so
# `Api::get_opt` fails instead of giving None; `is_already_exists()` needs "AlreadyExists".
_K8S_REASONS = {
    'Not Found': 'NotFound',
    'Endpoint Not Found': 'NotFound',
    'Resource Not Found': 'NotFound',
    'Object Not Found': 'NotFound',
    'Object Already Exists': 'AlreadyExists',
}


def _status_error(code: int, reason: str, message: str) -> kmock.KubernetesError:
    # Real Kubernetes reasons (NotFound, BadRequest), unlike kmock's own "Object Not Found".
    return kmock.KubernetesError(status=code, reason=reason, message=message, details={})


@attrs.define(kw_only=True)
class StampingEmulator(kmock.KubernetesEmulator):
    """kmock's emulator + resourceVersion/uid/creationTimestamp stamping + pod logs."""

    _rv: int = attrs.field(default=0, init=False)
    # (namespace, pod, container) -> [(timestamp, line without newline)]
    _logs: dict[tuple[str, str, str], list[tuple[datetime.datetime, str]]] = attrs.field(factory=dict, init=False)
    _logs_changed: asyncio.Condition | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self[kmock.method.GET, kmock.subresource('log')] << self._serve_logs
        self[kmock.method.POST, CONTROL_LOGS] << self._control_logs

    async def _render_error(self, exc: Exception) -> Any:
        if isinstance(exc, kmock.KubernetesError) and exc.reason in _K8S_REASONS:
            exc = attrs.evolve(exc, reason=_K8S_REASONS[exc.reason])
        return await super()._render_error(exc)

    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _stamp_new(self, obj: dict[str, Any], namespace: str | None) -> None:
        meta = obj.setdefault('metadata', {})
        if not isinstance(meta, dict):
            return
        meta['resourceVersion'] = self.next_rv()
        meta['uid'] = str(uuid.uuid4())
        meta['creationTimestamp'] = _rfc3339(_now())
        if namespace is not None:
            meta['namespace'] = namespace

    def seed(self, resource: kmock.resource, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        obj.setdefault('metadata', {})['name'] = name
        self._stamp_new(obj, namespace)
        self.objects[resource, namespace, name] = obj

    def _live(self, resource: kmock.resource, namespace: str | None, name: str | None) -> Any:
        key = (resource, namespace, name)
        if name is None or key not in self.objects or self.objects[key].deleted:
            return None
        return self.objects[key]

    async def _handle(self, request: kmock.Request) -> Any:
        # Stamp before kmock stores the object and puts the event on its watch bus.
        # No await happens between here and kmock taking its lock, so the order of
        # resourceVersions is the order of the events.
        if request.resource is not None:
            if request.action == enums.action.CREATE and isinstance(request.data, dict):
                namespace = request.namespace or request.data.get('metadata', {}).get('namespace')
                self._stamp_new(request.data, namespace)
            elif request.action == enums.action.UPDATE and request.name is not None:
                rv = self.next_rv()
                if isinstance(request.data, dict):
                    meta = request.data.get('metadata')
                    if meta is None:
                        request.data['metadata'] = {'resourceVersion': rv}
                    elif isinstance(meta, dict):
                        meta['resourceVersion'] = rv
                elif isinstance(request.data, list):  # JSON patch
                    request.data.append({'op': 'add', 'path': '/metadata/resourceVersion', 'value': rv})
            elif request.action == enums.action.DELETE and request.name is not None:
                obj = self._live(request.resource, request.namespace, request.name)
                if obj is not None:
                    # A new version (kmock's patch copies), so events already queued keep theirs.
                    obj.patch({'metadata': {'resourceVersion': self.next_rv()}})
        try:
            return await super()._handle(request)
        finally:
            if request.resource == PODS and request.action == enums.action.DELETE:
                await self._notify_logs()  # end the follow streams of a deleted pod

    async def _notify_logs(self) -> None:
        if self._logs_changed is None:
            self._logs_changed = asyncio.Condition()
        async with self._logs_changed:
            self._logs_changed.notify_all()

    async def _control_logs(self, request: kmock.Request) -> Any:
        match = CONTROL_LOGS.fullmatch(request.url.path)
        assert match is not None
        namespace, pod, container = match.groups()
        lines = (request.data or {}).get('lines') if isinstance(request.data, dict) else None
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise _status_error(400, 'BadRequest', 'expected a JSON body {"lines": ["..."]}')
        buffer = self._logs.setdefault((namespace, pod, container), [])
        for line in lines:
            for part in line.split('\n'):
                buffer.append((_now(), part))
        await self._notify_logs()
        return {'appended': len(lines), 'total': len(buffer)}

    async def _serve_logs(self, request: kmock.Request) -> Any:
        namespace, name = request.namespace, request.name
        pod = self._live(PODS, namespace, name)
        if pod is None:
            raise _status_error(404, 'NotFound', f'pods "{name}" not found')

        spec = pod.raw.get('spec') or {}
        containers = [c.get('name') for c in spec.get('containers') or []]
        known = containers + [c.get('name') for c in spec.get('initContainers') or []]
        container = request.params.get('container')
        if not container:
            default = ((pod.raw.get('metadata') or {}).get('annotations') or {}).get(
                'kubectl.kubernetes.io/default-container')
            if len(containers) == 1:
                container = containers[0]
            elif default in known:
                container = default
            else:
                raise _status_error(
                    400, 'BadRequest',
                    f'a container name must be specified for pod {name}, choose one of: [{" ".join(known)}]')
        elif container not in known:
            raise _status_error(400, 'BadRequest', f'container {container} is not valid for pod {name}')

        params = request.params
        try:
            tail = int(params['tailLines']) if 'tailLines' in params else None
            limit = int(params['limitBytes']) if 'limitBytes' in params else None
            since = int(params['sinceSeconds']) if 'sinceSeconds' in params else None
        except ValueError as e:
            raise _status_error(400, 'BadRequest', str(e))
        timestamps = params.get('timestamps') == 'true'
        follow = params.get('follow') == 'true'

        key = (namespace, name, container)
        buffer = self._logs.setdefault(key, [])
        backlog = list(buffer)
        if since is not None:
            cutoff = _now() - datetime.timedelta(seconds=since)
            backlog = [(ts, line) for ts, line in backlog if ts >= cutoff]
        if tail is not None:
            backlog = backlog[-tail:] if tail > 0 else []
        start = len(buffer)

        def render(entry: tuple[datetime.datetime, str]) -> bytes:
            ts, line = entry
            return ((_rfc3339_nano(ts) + ' ' if timestamps else '') + line + '\n').encode()

        headers = {'Content-Type': 'text/plain'}
        if not follow:
            body = b''.join(render(entry) for entry in backlog)
            return kmock.Response(status=200, headers=headers,
                                  payload=body[:limit] if limit is not None else body)

        async def stream() -> Any:
            sent = 0
            yield b''  # send the headers now, even with nothing to say yet (as kmock's watches do)
            position = start
            pending = backlog
            while True:
                for entry in pending:
                    chunk = render(entry)
                    if limit is not None:
                        chunk = chunk[:max(0, limit - sent)]
                    if chunk:
                        sent += len(chunk)
                        yield chunk
                    if limit is not None and sent >= limit:
                        return
                if self._logs_changed is None:
                    self._logs_changed = asyncio.Condition()
                async with self._logs_changed:
                    await self._logs_changed.wait_for(
                        lambda: len(buffer) > position or self._live(PODS, namespace, name) is None)
                if self._live(PODS, namespace, name) is None:
                    return  # the pod is gone: end the stream, as the kubelet does
                pending = buffer[position:]
                position = len(buffer)

        return kmock.Response(status=200, headers=headers, payload=stream())


async def serve(namespaces: list[str], exit_on_stdin_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        def watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=watch_stdin, daemon=True).start()

    async with StampingEmulator() as emulator, kmock.Server(emulator, host='127.0.0.1') as server:
        emulator.resources.load_bundled()
        for ns in dict.fromkeys(['default', 'kube-system', 'kube-public', *namespaces]):
            emulator.seed(NAMESPACES, None, ns, {
                'apiVersion': 'v1', 'kind': 'Namespace',
                'metadata': {'name': ns, 'labels': {'kubernetes.io/metadata.name': ns}},
                'spec': {'finalizers': ['kubernetes']},
                'status': {'phase': 'Active'},
            })
        print(f'LISTENING {server.host}:{server.port}', flush=True)
        await stop.wait()
        # Open watch/follow streams would hold a graceful shutdown up; nothing here needs flushing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--namespace', action='append', default=[],
                        help='a namespace that exists from the start (repeatable)')
    parser.add_argument('--exit-on-stdin-eof', action='store_true',
                        help='stop when stdin is closed (the parent process ended)')
    args = parser.parse_args()
    asyncio.run(serve(args.namespace, args.exit_on_stdin_eof))


if __name__ == '__main__':
    main()
