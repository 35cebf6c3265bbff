"""connector-proxy: run the daemon or a job worker, check the configuration or BPMN models against
the catalog, start a new connector package, or try a command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector_proxy import __version__
from connector_proxy.cli.help import Parser, PersonFormatter, fitted, port_taken
from connector_proxy.config import (
    ConfigError,
    EnvironmentConfigError,
    Settings,
    config_path,
    load_settings,
    meant_variable,
    read_worker_class,
    unknown_variables,
)
from connector_proxy.process import concurrency
from connector_proxy.telemetry import logs

# prometheus_client's name (connector_proxy.telemetry.metrics)
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
USUAL_GC_THRESHOLDS = gc.get_threshold()
# while serve imports the daemon and builds the app, nearly every object allocated lives on: a young
# collection every 700 allocations (the default) only walks them, ~170 times, ~10% of the start-up
STARTING_GC_THRESHOLDS = (50_000, 20, 20)

if TYPE_CHECKING:  # the daemon's modules are imported once the standard library is patched
    from flask import Flask

    from connector_proxy.calls.registry import Registry
    from connector_proxy.models.validate import Check
    from connector_proxy.proxies.service import Proxies
    from connector_proxy.sdk.factories import CliAction


def main(argv: Sequence[str] | None = None) -> int:
    packaged = _package_actions(sys.argv[1:] if argv is None else argv)
    arguments = _parser(packaged).parse_args(argv)
    if arguments.action == "new":  # needs no configuration: it starts a package, anywhere
        return _new(arguments)
    chosen = packaged.get(arguments.action)
    if chosen is not None and not isinstance(chosen, str):  # a package's action reads no configuration
        return chosen.run(arguments)
    path = config_path(arguments.config, os.environ)
    if arguments.action == "serve":  # the usual thresholds are back before the workers fork (_serve)
        gc.set_threshold(*STARTING_GC_THRESHOLDS)
    try:
        if arguments.action == "serve":  # before anything imports ssl: a secret provider may (boto3)
            concurrency.prepare(read_worker_class(path, os.environ))
        settings = load_settings(path, os.environ)
    except EnvironmentConfigError as error:  # the file may not even have the key
        print(f"connector-proxy: configuration error in the environment: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"connector-proxy: configuration error in {path}: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings, arguments.action)
    for name in unknown_variables(settings.environ) if arguments.action in ("serve", "worker") else ():
        logging.getLogger(__name__).warning(
            "%s is not a setting and is ignored%s", name, meant_variable(name)
        )
    handlers = {
        "serve": _serve,
        "worker": _worker,
        "list": _list,
        "check": _check,
        "validate": _validate,
        "catalog": _catalog_action,
        "call": _call,
    }
    handler = handlers[arguments.action]
    try:
        return handler(settings, arguments)
    except ConfigError as error:  # found while starting: a missing extra, say
        print(f"connector-proxy: configuration error: {error}", file=sys.stderr)
        return 2


def _package_actions(argv: Sequence[str]) -> dict[str, CliAction | str]:
    """Actions installed packages add (``connector_proxy.cli``): the one asked for loaded, the others by
    the package offering them (nothing of theirs is imported before ``serve`` patches the standard
    library); one that fails to load is left out."""
    from connector_proxy.sdk.factories import CLI_GROUP

    asked = next((word for word in argv if not word.startswith("-")), None)
    found: dict[str, CliAction | str] = {}
    for point in entry_points(group=CLI_GROUP):
        if point.name in BUILT_IN_ACTIONS:
            continue  # a built-in action keeps its name
        if point.name != asked:
            found[point.name] = f"added by {point.dist.name if point.dist else point.value}"
            continue
        try:
            found[point.name] = point.load()
        except Exception as error:  # a broken package must not take the whole command line down
            print(f"connector-proxy: action {point.name} left out: {type(error).__name__}", file=sys.stderr)
    return found


BUILT_IN_ACTIONS = {
    "serve": "run the daemon under gunicorn",
    "worker": "run jobs for the celery backend (jobs.backend = celery)",
    "list": "print the catalog as a table",
    "check": "load the configuration and every connector; exit 1 naming each problem",
    "validate": "check BPMN models against the catalog (or an upgrade of it); exit 1 naming each problem",
    "catalog": "catalog export: write the whole catalog as JSON, to compare an upgrade against",
    "new": "write a new connector package (tests, README, entry point) in the current directory",
    "call": "run one command in-process and print its envelope",
}


def _parser(packaged: Mapping[str, CliAction | str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="connector-proxy", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in BUILT_IN_ACTIONS.items():
        action = actions.add_parser(name, help=text, description=text)
        if name != "new":  # the one action that reads no configuration
            action.add_argument(
                "--config", help="plugins.toml to read (default: $CONNECTOR_PROXY_CONFIG or ./plugins.toml)"
            )
        if name == "check":
            action.add_argument(
                "--live", action="store_true", help="also run each connector's live check of its credentials"
            )
        if name == "serve":
            action.add_argument("--bind", help="HOST:PORT to listen on (overrides server.bind)")
        if name == "worker":
            action.add_argument("--concurrency", type=int, default=4, help="jobs run at once (threads)")
        if name == "validate":
            action.add_argument("models", nargs="+", metavar="MODEL.bpmn", help="BPMN files to check")
            action.add_argument(
                "--url", help="a running daemon's URL, whose catalog is used (default: in-process)"
            )
            action.add_argument("--api-key", help="its API key: plain, env:NAME or file:/path")
            upgrade = action.add_mutually_exclusive_group()
            upgrade.add_argument(
                "--against",
                metavar="OLD.json",
                help="what upgrading from this exported catalog to ours breaks",
            )
            upgrade.add_argument(
                "--diff", nargs=2, metavar=("OLD.json", "NEW.json"), help="what upgrading OLD to NEW breaks"
            )
        if name == "catalog":
            action.add_argument("what", choices=["export"], help="export: the catalog as JSON on stdout")
        if name == "new":
            action.add_argument("name", help="the connector's name: the first half of its command ids")
        if name == "call":
            action.add_argument("command", help="<connector>/<command>, e.g. http/GetRequest")
            action.add_argument(
                "parameters",
                nargs="*",
                metavar="key=value",
                help="a parameter as text (key=value) or as JSON (key:=json)",
            )
    for name, packaged_action in (packaged or {}).items():
        if isinstance(packaged_action, str):  # not asked for: listed, not loaded
            actions.add_parser(name, help=packaged_action)
        else:
            packaged_action.add_arguments(actions.add_parser(name, help=packaged_action.help))
    return parser


def _configure_logging(settings: Settings, action: str) -> None:
    """The daemon logs as configured; ``check`` prints its problems itself, the others only warn, in
    sentences for the person who typed the command (JSON lines only when server.log_format asks)."""
    levels = {
        "serve": settings.server.log_level.upper(),
        "check": "CRITICAL",
        "validate": "CRITICAL",
        "catalog": "CRITICAL",  # stdout is the document; what was left out is in it (and check says why)
    }
    level = levels.get(action, "WARNING")
    if action in ("serve", "worker") or settings.server.log_format == "json":
        logs.configure(level, settings.server.log_format)
        return
    person = logging.StreamHandler(sys.stderr)
    person.setFormatter(PersonFormatter())
    logging.basicConfig(level=level, handlers=[person], force=True)


def _warn_short_lease(settings: Settings) -> None:
    """A command holding a gevent worker's CPU also holds its lease's renewal: only gunicorn's kill
    of that worker, before the lease runs out, keeps its job from starting elsewhere meanwhile."""
    server, lease = settings.server, settings.jobs.lease_seconds
    if server.worker_class == "gevent" and lease <= server.worker_timeout:
        logging.getLogger(__name__).warning(
            "jobs.lease_seconds (%g s) is not longer than the worker timeout (%d s): a command holding its"
            " worker's CPU that long stops its lease's renewal, and its job may start again elsewhere while"
            " it runs; keep jobs.lease_seconds above %d s",
            lease,
            server.worker_timeout,
            server.worker_timeout,
        )


def _serve(settings: Settings, arguments: argparse.Namespace) -> int:
    own_metrics = _metrics_directory()  # before prometheus_client is imported: it reads the variable then
    from connector_proxy.jobs.delivery import warn_without_credentials
    from connector_proxy.web.app import create_app
    from connector_proxy.web.server import serve  # gunicorn is only needed to serve
    from connector_proxy.web.state import proxy_state_of

    bind = arguments.bind or settings.server.bind
    if port_taken(bind):  # said now, in words, not after gunicorn's retries
        named = "--bind" if arguments.bind else f"server.bind in {settings.source or 'the configuration'}"
        print(
            f"connector-proxy: {bind} is in use (another connector-proxy, or another program, listens"
            f" there): stop it, or listen elsewhere with --bind HOST:PORT (now: {named};"
            " CONNECTOR_PROXY_SERVER_BIND overrides server.bind)",
            file=sys.stderr,
        )
        return 2
    app = create_app(_bound(settings, arguments.bind))
    warn_without_credentials(settings.jobs)
    _warn_short_lease(settings)
    proxy_state_of(app).jobs.recover()  # before any worker forks: what a stop left running runs again
    proxy_state_of(app).events.recover()

    def rebuild() -> Flask:
        """SIGHUP: the file and the environment read again, every connector discovered again."""
        path = config_path(arguments.config, os.environ)
        try:
            fresh = _bound(load_settings(path, os.environ), arguments.bind)
        except ConfigError as error:
            raise ConfigError(f"configuration error in {path}: {error}") from None
        rebuilt = create_app(fresh)
        _configure_logging(fresh, "serve")
        return rebuilt

    gc.set_threshold(*USUAL_GC_THRESHOLDS)  # the master and every worker collect as usual from here
    # and what the build left young goes to the oldest generation, as the usual thresholds would have
    # done: left young, each worker's first collections would walk it and copy its pages (+10 MiB USS)
    gc.collect(1)
    serve(app, own_metrics, rebuild)
    return 0


def _bound(settings: Settings, bind: str | None) -> Settings:
    """``--bind`` wins over ``server.bind``, at start and at every reload."""
    if not bind:
        return settings
    return dataclasses.replace(settings, server=dataclasses.replace(settings.server, bind=bind))


def _metrics_directory() -> Path | None:
    """Where every gunicorn worker writes its counts: the operator's ``PROMETHEUS_MULTIPROC_DIR``
    (emptied: counts of an earlier run are not this one's) or, returned, one of this run's own."""
    given = os.environ.get(MULTIPROCESS_DIRECTORY)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    own = Path(tempfile.mkdtemp(prefix="connector-proxy-metrics-"))
    os.environ[MULTIPROCESS_DIRECTORY] = str(own)
    return own


def _worker(settings: Settings, arguments: argparse.Namespace) -> int:
    if settings.jobs.backend != "celery":
        print("connector-proxy: worker needs jobs.backend = celery", file=sys.stderr)
        return 2
    from connector_proxy.jobs.service import celery_backend

    celery_backend()  # a missing extra is a configuration error now, not in each restarted child
    return _supervised(lambda dead: _celery_worker(settings, arguments, dead))


def _celery_worker(settings: Settings, arguments: argparse.Namespace, dead: tuple[str, int] | None) -> int:
    """One Celery worker process; ``dead``: the one it replaces, whose jobs it queues again at once."""
    from connector_proxy.calls.discovery import discover
    from connector_proxy.calls.executor import Executor
    from connector_proxy.jobs.delivery import warn_without_credentials
    from connector_proxy.jobs.runner import JobRunner
    from connector_proxy.jobs.service import celery_backend
    from connector_proxy.oauth.renewed_tokens import create_renewals
    from connector_proxy.process.services import ProcessServices

    backend = celery_backend()
    warn_without_credentials(settings.jobs)
    discovered = discover(settings)
    store = backend.RedisJobStore(settings.jobs)
    executor = Executor(discovered.registry, settings.limits, create_renewals(settings))
    runner = JobRunner(store, executor, settings.jobs)
    app = backend.worker_app(store, runner, settings.jobs)
    leases = backend.WorkerLeases(store, runner, app, settings.jobs.celery_queue, dead)
    services = ProcessServices(discovered.pools, [leases])
    services.start()  # threads, not forks (--pool=threads): this process owns the isolated workers
    try:
        app.worker_main(
            [
                "worker",
                f"--loglevel={settings.server.log_level.upper()}",
                "--pool=threads",
                f"--concurrency={arguments.concurrency}",
                "-Q",
                settings.jobs.celery_queue,
            ]
        )
    finally:
        services.stop(grace=settings.server.graceful_timeout)
    return 0


def _supervised(run: Callable[[tuple[str, int] | None], int]) -> int:
    """``connector-proxy worker``: a small parent that runs the worker in a child process and starts it
    again whenever it exits (killed, out of memory, Celery giving up on Redis) until it is told to stop
    (SIGTERM, SIGINT: passed on to the child, which finishes its jobs). The new child queues again the
    jobs the dead one ran. Restarts back off from 1 s to 30 s while the child dies young."""
    log = logging.getLogger(__name__)
    stopping, child, delay = False, 0, 0.5  # the first restart waits 1 s

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child:
            with contextlib.suppress(ProcessLookupError):  # it exited just now
                os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, stop)
    dead: tuple[str, int] | None = None
    while True:
        started = time.monotonic()
        child = os.fork()
        if child == 0:
            os._exit(_child(run, dead))
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])  # retried after a signal (PEP 475)
        gone, child = child, 0
        if stopping:
            return max(code, 0)
        delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
        log.warning(
            "the Celery worker (pid %s) exited with %s; starting another in %.0f s", gone, code, delay
        )
        dead = (socket.gethostname(), gone)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return 0


def _child(run: Callable[[tuple[str, int] | None], int], dead: tuple[str, int] | None) -> int:
    """The supervised worker's body; its exit status, whatever it raised."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    try:
        return run(dead)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        logging.getLogger(__name__).exception("the Celery worker failed")
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


@contextmanager
def _discovered(settings: Settings) -> Iterator[Registry]:
    """Discovery as the daemon does it, for the actions that read the registry (and a live check);
    the isolated connectors' workers are closed at the end."""
    from connector_proxy.calls.discovery import discover

    discovered = discover(settings)
    try:
        yield discovered.registry
    finally:
        for pool in discovered.pools.values():
            pool.close()


def _list(settings: Settings, _arguments: argparse.Namespace) -> int:
    with _discovered(settings) as registry:
        _print_list(registry)
    return 0


def _print_list(registry: Registry) -> None:
    from connector_proxy.calls.registry import READY

    print(_catalog_table(registry))
    print("\nconfiguration in effect (defaults filled, secrets masked):")
    for status in registry.statuses:
        if status.state == READY:
            print(f"  {status.name}: {json.dumps(status.masked_config, sort_keys=True, default=str)}")
    if registry.typeahead_names:
        print("\ntypeahead categories (GET /v1/typeahead/<name>, the name a form's category gives):")
        for public, category in registry.typeahead_names.items():
            print(f"  {public}: {category}")
    if registry.triggers:
        print("\ntriggers (subscribe to one in [subscriptions.<name>]):")
        for trigger_id, bound in registry.triggers.items():
            print(f"  {trigger_id} ({bound.trigger.kind}): {bound.trigger.description}")
    left_out = [s for s in registry.statuses if s.state != READY]
    for status in left_out:
        print(f"\n{status.name}: {status.state} ({status.detail})", end="")
    print("\n" if left_out else "", end="")


def _check(settings: Settings, arguments: argparse.Namespace) -> int:
    """What the daemon would leave out, as errors: for a deploy pipeline, before the daemon starts.
    With ``--live``, each connector's live check runs too, and a failed one is a problem."""
    from connector_proxy.events.subscriptions import bind_subscriptions

    with _discovered(settings) as registry:
        where = settings.source or "the defaults"
        problems = [f"{where}: [connectors.{s.name}]: {s.state}: {s.detail}" for s in registry.troubled]
        left_out = bind_subscriptions(settings, registry).problems
        problems += [f"{where}: [subscriptions.{name}]: {detail}" for name, detail in left_out.items()]
        problems += [f"{where}: {problem}" for problem in registry.typeahead_problems]
        problems += [
            f"environment: {name} is not a setting{meant_variable(name)}"
            for name in unknown_variables(settings.environ)
        ]
        problems += _callback_problems(settings)
        problems += _proxy_problems(settings, registry)
        problems += _live_problems(settings, registry) if arguments.live else []
    for problem in problems:
        print(f"connector-proxy: {problem}", file=sys.stderr)
    ready = registry.ready
    print(f"{where}: {len(ready)} connector(s) ready ({', '.join(ready)}), {len(problems)} problem(s)")
    return 1 if problems else 0


def _proxy_problems(settings: Settings, registry: Registry) -> list[str]:
    where = settings.source or "the defaults"
    statuses = _read_proxies(settings, registry).statuses.values()
    return [f"{where}: [proxies.{s.name}]: {s.state}: {s.detail}" for s in statuses if s.state != "ready"]


def _read_proxies(settings: Settings, registry: Registry) -> Proxies:
    """Every other proxy's catalog, read now as the daemon reads it at start-up."""
    from connector_proxy.proxies.service import FIRST_READ_SECONDS, Proxies

    proxies = Proxies(settings, registry)
    proxies.read_all(FIRST_READ_SECONDS)
    return proxies


def _live_problems(settings: Settings, registry: Registry) -> list[str]:
    """Each ready connector's live check, printed as it ends; the failed ones, as problems."""
    from connector_proxy.calls.live_checks import FAILED, run_check

    problems = []
    for name in registry.ready:
        outcome = run_check(registry, name, settings.limits.check_timeout)
        if outcome is None:
            continue
        said = f"{name}: live check {outcome.state}" + (f": {outcome.message}" if outcome.message else "")
        if outcome.state == FAILED:
            problems.append(said)
        else:
            print(said)
    return problems


def _callback_problems(settings: Settings) -> list[str]:
    """Hosts whose last answer to a callback refused jobs.callback_headers, as the job store has it."""
    from connector_proxy.jobs.service import refused_credentials

    try:
        refused = refused_credentials(settings)
    except Exception as error:  # a store not up yet is the daemon's readiness to report, not check's
        print(f"connector-proxy: note: the job store was not read ({type(error).__name__})", file=sys.stderr)
        return []
    return [f"callbacks to {origin}: {detail}" for origin, detail in refused.items()]


def _validate(settings: Settings, arguments: argparse.Namespace) -> int:
    """For a model repository's CI: every finding on stdout, unreadable files on stderr, exit 1 if any."""
    from connector_proxy.models.validate import ERROR, Finding, MalformedModel, report_with

    try:
        check = _model_check(settings, arguments)
    except (OSError, ValueError) as error:  # unreachable daemon, refused key, unreadable catalog file
        print(f"connector-proxy: the catalog could not be had: {error}", file=sys.stderr)
        return 2
    problems = tasks = 0
    for index, path in enumerate(arguments.models, 1):
        if sys.stderr.isatty():
            print(f"[{index}/{len(arguments.models)}] {path}", file=sys.stderr)
        try:
            checked = report_with([(path, Path(path).read_bytes())], check)
        except (OSError, MalformedModel) as error:
            print(f"connector-proxy: {path}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
            problems += 1
            continue
        tasks += checked["service_tasks"]
        for found in checked["findings"]:
            print(Finding(**found).line())
            problems += found["severity"] == ERROR
    print(f"{len(arguments.models)} file(s), {tasks} service task(s), {problems} problem(s)")
    return 1 if problems else 0


def _model_check(settings: Settings, arguments: argparse.Namespace) -> Check:
    """Against the catalog; or, with --against or --diff, what an upgrade from one to the other does."""
    from connector_proxy.models.upgrade import Upgrade, read_catalog
    from connector_proxy.models.validate import check_task, shapes_of

    if arguments.diff:
        old, new = (read_catalog(Path(path).read_bytes(), path) for path in arguments.diff)
        return Upgrade(old, new).check
    current = _catalog(settings, arguments.url, arguments.api_key)
    if arguments.against:
        ours = {entry["id"]: entry for entry in current}
        return Upgrade(read_catalog(Path(arguments.against).read_bytes(), arguments.against), ours).check
    shapes = shapes_of(current)
    return lambda task: check_task(task, shapes)


def _catalog_action(settings: Settings, _arguments: argparse.Namespace) -> int:
    """``catalog export``: the catalog the host sees (other proxies' commands too), with versions."""
    from connector_proxy.models.upgrade import exported

    with _discovered(settings) as registry:
        entries = json.loads(_read_proxies(settings, registry).view.catalog_json)
        packages = {
            s.name: {"distribution": s.distribution, "version": s.version}
            for s in registry.statuses
            if s.state == "ready"
        }
        left_out = {s.name: s.state for s in registry.troubled}
    print(json.dumps(exported(entries, packages, left_out), indent=2, sort_keys=True))
    return 0


def _catalog(settings: Settings, url: str | None, api_key: str | None) -> list[dict[str, Any]]:
    """The catalog a host sees: a running daemon's ``GET /v1/commands``, or this configuration's."""
    if url is None:
        with _discovered(settings) as registry:
            catalog: list[dict[str, Any]] = json.loads(_read_proxies(settings, registry).view.catalog_json)
        return catalog
    import requests

    from connector_proxy.secrets import SecretReferenceError, resolve_reference
    from connector_proxy.web.auth import HEADER

    try:
        key = resolve_reference(api_key, settings.environ) if api_key else None
    except SecretReferenceError as error:
        raise ValueError(f"--api-key: {error}") from None
    headers = {HEADER: key} if key else {}
    try:
        answer = requests.get(f"{url.rstrip('/')}/v1/commands", headers=headers, timeout=30)
    except requests.Timeout:
        raise ValueError(f"{url} did not answer GET /v1/commands within 30 s") from None
    except requests.ConnectionError:
        raise ValueError(
            f"nothing answers at {url}: is the daemon running there, and are the host and port right?"
        ) from None
    if answer.status_code != 200:
        raise ValueError(f"{url} answered {answer.status_code} to GET /v1/commands")
    listed: list[dict[str, Any]] = answer.json()
    return listed


def _new(arguments: argparse.Namespace) -> int:
    from connector_proxy.cli import scaffold

    try:
        folder = scaffold.create(arguments.name, Path.cwd())
    except ValueError as problem:
        print(f"connector-proxy: {problem}", file=sys.stderr)
        return 2
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        print(f"wrote {path.relative_to(Path.cwd())}")
    print(f"next: pip install -e './{folder.name}[test]' && pytest {folder.name} && connector-proxy check")
    return 0


def _catalog_table(registry: Registry) -> str:
    rows = [("COMMAND", "PARAMETERS (* required)", "DESCRIPTION")]
    for entry in json.loads(registry.catalog_json):
        parameters = ", ".join(p["id"] + ("*" if p["required"] else "") for p in entry["parameters"])
        summary = entry["description"].split("\n", 1)[0]
        if entry["alias_of"]:
            summary = f"alias of {entry['alias_of']}"
        if entry.get("run_by_host"):
            summary = f"{summary} (a SpiffWorkflow backend runs this id itself)"
        rows.append((entry["id"], parameters, summary))
    return fitted(rows)


def _call(settings: Settings, arguments: argparse.Namespace) -> int:
    from connector_proxy.calls.discovery import discover
    from connector_proxy.calls.executor import Executor

    try:
        payload = dict(_parameter(text) for text in arguments.parameters)
    except ValueError as error:
        print(f"connector-proxy: {error}", file=sys.stderr)
        return 2
    keys = [text.partition("=")[0] for text in arguments.parameters]
    as_text = [key for key in keys if not key.endswith(":")]  # key:=json is JSON already
    discovered = discover(settings)
    executor = Executor(discovered.registry, settings.limits)
    outcome = executor.run(executor.read(arguments.command, payload), answers_host=True)
    for pool in discovered.pools.values():
        pool.close()  # an isolated connector's worker ends with the command
    print(json.dumps(outcome.envelope, indent=2, default=str))
    for hint in _json_hints(outcome.envelope["error"], as_text, payload):
        print(f"connector-proxy: hint: {hint}", file=sys.stderr)
    return 0 if outcome.envelope["error"] is None else 1


def _json_hints(error: Any, as_text: list[str], payload: dict[str, Any]) -> list[str]:
    """A parameter given as text (``key=value``) that had to be a number, a flag, a list or an
    object: say how to give it as JSON (``key:=value``)."""
    message = error.get("message", "") if isinstance(error, dict) else ""
    hints = []
    for key in as_text:
        wrong = re.search(rf"\b{re.escape(key)}\b[^;]*(?:is not|must be) of type '?(\w+)", message)
        if wrong:
            example = _as_json(str(payload[key]), wrong[1])
            hints.append(f"{key} was given as text ({key}={payload[key]}); give JSON with {key}:={example}")
    return hints


def _as_json(text: str, expected: str) -> str:
    """The text as the JSON a shell passes on: itself if it is JSON already, else in a list."""
    try:
        json.loads(text)
    except ValueError:
        return f"'{json.dumps([text])}'" if expected == "array" else "<JSON>"
    return text


def _parameter(text: str) -> tuple[str, Any]:
    """``key=value`` is text; ``key:=value`` is JSON (httpie's convention)."""
    key, separator, value = text.partition("=")
    if not separator:
        raise ValueError(f"{text!r} is not key=value or key:=json")
    if key.endswith(":"):
        try:
            return key[:-1], json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{key[:-1]}: not valid JSON ({error.msg})") from None
    return key, value
