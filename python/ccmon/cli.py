"""The ``ccmon`` command: ``replay`` a recorded log, ``run`` live on a switch's log, ``demo`` on a simulator.

Typer gives typed options, ``--help`` and error messages for free; rich draws the tables.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ccmon.alerting import Alerting
from ccmon.config import Config, ConfigError, read_secret
from ccmon.monitor import Monitor
from ccmon.server import Server, parse_listen
from ccmon.sources import Source, start

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="ccmon: real-time call-center queue monitor."
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML configuration file.")]
ListenOpt = Annotated[str, typer.Option(help="HOST:PORT for /metrics, /healthz and /api/v1.")]


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _monitor(config: Path | None, defaults: Mapping[str, Any] | None = None) -> Monitor:
    """A monitor on the user's config file; ``defaults`` fill the keys the file does not set."""
    try:
        if config is not None:
            return Monitor(Config.from_toml(config, defaults or {}))
        return Monitor(Config.from_dict(defaults or {}))
    except (ConfigError, OSError) as e:
        raise _fail(str(e)) from None


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def replay_report(monitor: Monitor, window: str = "all") -> dict[str, Any]:
    """The object ``replay --output json`` prints (SPEC §8)."""
    rows = [{k: _clean(v) for k, v in row.items()} for row in monitor.queues(window).to_dicts()]
    sources = monitor.sources()
    by_reason: dict[str, int] = {}
    for s in sources:
        for reason, n in s["rejected_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    return {
        "window": window,
        "now": monitor.now,
        "queues": rows,
        "events": {
            "ingested": sum(s["ingested"] for s in sources),
            "rejected": sum(s["rejected"] for s in sources),
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "unknown": sum(s["unknown"] for s in sources),
            "ignored": sum(s["ignored"] for s in sources),
            "duplicates": sum(s["duplicates"] for s in sources),
        },
    }


def _fmt_seconds(v: float | None) -> str:
    if v is None:
        return "-"
    m, s = divmod(round(v), 60)
    return f"{m}:{s:02d}"


def _fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _print_table(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"ccmon replay — window {report['window']}")
    cols: list[tuple[str, str, Callable[[Any], str]]] = [
        ("queue", "queue", str),
        ("offered", "offered", str),
        ("answered", "answered", str),
        ("abandoned", "abandoned", str),
        ("short ab.", "short_abandoned", str),
        ("timeout", "timed_out", str),
        ("lost", "lost", str),
        ("SL", "service_level", _fmt_pct),
        ("aband. rate", "abandon_rate", _fmt_pct),
        ("ASA", "asa_seconds", _fmt_seconds),
        ("p90 wait", "wait_p90_seconds", _fmt_seconds),
        ("max wait", "wait_max_seconds", _fmt_seconds),
        ("waiting", "waiting_now", str),
        ("talk", "talk_seconds_mean", _fmt_seconds),
        ("transfers", "transfers_out", str),
        ("loops", "loop_entries", str),
        ("repeats", "repeat_calls", str),
    ]
    for title, _, _ in cols:
        table.add_column(title, justify="left" if title == "queue" else "right")
    for row in report["queues"]:
        table.add_row(*(fmt(row[key]) for _, key, fmt in cols))
    console.print(table)
    ev = report["events"]
    reasons = ", ".join(f"{k}={v}" for k, v in ev["rejected_by_reason"].items()) or "none"
    console.print(
        f"events: ingested={ev['ingested']} rejected={ev['rejected']} ({reasons}) "
        f"unknown={ev['unknown']} ignored={ev['ignored']} duplicates={ev['duplicates']}",
        highlight=False,
    )


@app.command()
def replay(
    files: Annotated[list[Path], typer.Argument(help="Recorded logs, read in order.")],
    format: Annotated[
        str, typer.Option(help="auto (by how the file starts), queue_log, jsonl, ami, freeswitch")
    ] = "auto",
    config: ConfigOpt = None,
    output: Annotated[str, typer.Option(help="json or table")] = "table",
    window: Annotated[str, typer.Option(help="all, today, or a rolling window such as 1h")] = "all",
) -> None:
    """Read recorded logs and print every queue's figures (SPEC §3)."""
    if output not in ("json", "table"):
        raise _fail(f"--output {output!r}: use json or table")
    monitor = _monitor(config)
    try:
        for f in files:
            monitor.feed_file(f, format)
        report = replay_report(monitor, window)
    except (OSError, ValueError) as e:
        raise _fail(str(e)) from None
    if output == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        console = Console()
        _print_table(report, console if console.is_terminal else Console(width=200))


def _serve(
    monitor: Monitor, sources: list[Source], listen: str, duration: float | None
) -> tuple[Server, threading.Event]:
    stop = threading.Event()
    alerts = monitor.config.alert_config
    if not alerts.generator_url:
        # Where an alert came from: this ccmon's list of what fires (Alertmanager links to it).
        alerts = dataclasses.replace(alerts, generator_url=f"http://{listen}/api/v1/alerts")
    try:
        alerting = Alerting(monitor, alerts, lambda: sources)
    except ConfigError as e:
        raise _fail(str(e)) from None
    try:
        server = Server(monitor, listen, lambda: sources, alerting)
    except (OSError, ValueError) as e:
        raise _fail(f"cannot listen on {listen}: {e}") from None
    server.start()
    for s in sources:
        start(s, stop)
    threading.Thread(target=alerting.run, args=(stop,), name="alerts", daemon=True).start()

    def tick() -> None:
        # Ages of waiting calls and the lost sweep follow the wall clock between events (SPEC §1).
        while not stop.wait(1.0):
            monitor.advance_clock()

    threading.Thread(target=tick, name="clock", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    return server, stop


@app.command()
def run(
    queue_log: Annotated[
        Path | None, typer.Option("--queue-log", help="Asterisk queue_log to follow (like tail -F).")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl", help="A JSON-lines file of events (SPEC §7) to follow (like tail -F); - for stdin."
        ),
    ] = None,
    jsonl_tcp: Annotated[
        str | None,
        typer.Option(
            "--jsonl-tcp",
            help="HOST:PORT to listen on for producers that send JSON lines over TCP (source tcp).",
        ),
    ] = None,
    ami: Annotated[
        list[str] | None,
        typer.Option(
            "--ami",
            help="ami://USER@HOST[:PORT][?site=SITE&name=NAME] of an Asterisk manager "
            "(timestampevents = yes); the secret comes from CCMON_AMI_SECRET or --ami-secret-file, "
            "never from the command line. "
            "Repeatable: one process watches several switches.",
        ),
    ] = None,
    ami_secret_file: Annotated[
        Path | None, typer.Option("--ami-secret-file", help="A file holding the AMI secret.")
    ] = None,
    freeswitch: Annotated[
        list[str] | None,
        typer.Option(
            "--freeswitch",
            help="esl://HOST[:PORT][?site=SITE&name=NAME] of a FreeSWITCH event socket (mod_callcenter); the "
            "password comes from CCMON_ESL_PASSWORD or --esl-password-file, never from the command line. "
            "Repeatable.",
        ),
    ] = None,
    esl_password_file: Annotated[
        Path | None,
        typer.Option("--esl-password-file", help="A file holding the event socket password."),
    ] = None,
    listen: ListenOpt = "127.0.0.1:9108",
    config: ConfigOpt = None,
    from_end: Annotated[
        bool, typer.Option(help="Skip the files' history; by default they are read from their start.")
    ] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until killed).")
    ] = None,
    rotated: Annotated[
        list[Path] | None,
        typer.Option(
            "--rotated",
            help="Older, already rotated queue_logs (e.g. queue_log.1) to read first, oldest first, so a "
            "restart also rebuilds what they hold. Repeatable.",
        ),
    ] = None,
) -> None:
    """Follow live event files and serve /metrics, /healthz and the JSON API.

    Events can also be POSTed as JSON lines to /api/v1/events; with no file to follow, that is the only input.
    """
    from ccmon.sources.ami import AmiClient
    from ccmon.sources.file import FileFollower
    from ccmon.sources.freeswitch import EslClient
    from ccmon.sources.stream import StdinReader, TcpListener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    monitor = _monitor(config)
    try:
        for old in rotated or []:
            monitor.feed_file(old, "queue_log", "queue_log")
    except OSError as e:
        raise _fail(str(e)) from None
    followers: list[Source] = []
    if queue_log is not None:
        followers.append(FileFollower(queue_log, monitor, from_end=from_end))
    if jsonl is not None and str(jsonl) == "-":
        followers.append(StdinReader(sys.stdin.buffer, monitor))
    elif jsonl is not None:
        followers.append(FileFollower(jsonl, monitor, format="jsonl", name="jsonl", from_end=from_end))
    if jsonl_tcp is not None:
        try:
            followers.append(TcpListener(*parse_listen(jsonl_tcp), monitor))
        except (OSError, ValueError) as e:
            raise _fail(f"--jsonl-tcp {jsonl_tcp}: {e}") from None
    if ami:
        secret = _secret(ami_secret_file, "CCMON_AMI_SECRET", "--ami", "secret", "--ami-secret-file")
        followers += _switch_clients(ami, lambda url: AmiClient(url, secret, monitor), "ami")
    if freeswitch:
        password = _secret(
            esl_password_file, "CCMON_ESL_PASSWORD", "--freeswitch", "password", "--esl-password-file"
        )
        followers += _switch_clients(freeswitch, lambda url: EslClient(url, password, monitor), "freeswitch")
    names = [f.name for f in followers]
    if len(set(names)) != len(names):
        raise _fail(f"two sources have the same name ({', '.join(sorted(names))}); set name= in their URLs")
    server, stop = _serve(monitor, followers, listen, duration)
    inputs = [
        str(queue_log or ""),
        str(jsonl or ""),
        f"tcp {jsonl_tcp}" if jsonl_tcp else "",
        *(ami or []),
        *(freeswitch or []),
    ]
    following = ", ".join(i for i in inputs if i) or "no file"
    logging.getLogger("ccmon").info(
        "following %s; serving http://%s:%d/metrics; POST JSON lines to /api/v1/events",
        following,
        listen.rpartition(":")[0],
        server.port,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    server.stop()


def _secret(path: Path | None, env: str, flag: str, what: str, file_flag: str) -> str:
    """A switch's secret: from the file named by `file_flag` when given, else from the environment variable
    `env`; never from the command line."""
    try:
        secret = read_secret(path, env)
    except OSError as e:
        raise _fail(f"{file_flag}: {e}") from None
    if not secret:
        raise _fail(f"{flag} needs its {what} in {env} or a file named by {file_flag}")
    return secret


def _switch_clients(urls: list[str], make: Callable[[str], Any], kind: str) -> list[Source]:
    """One client per URL; one switch keeps the short source name, several are told apart by host and port
    (unless their URLs name them)."""
    clients = []
    try:
        for url in urls:
            client = make(url)
            if len(urls) > 1 and "name=" not in url:
                client.name = f"{kind}-{client.host}:{client.port}"
            clients.append(client)
    except ValueError as e:
        raise _fail(str(e)) from None
    return clients


@app.command()
def demo(
    listen: ListenOpt = "127.0.0.1:9108",
    seed: Annotated[int, typer.Option(help="Simulator seed: the same seed replays the same day.")] = 1,
    history: Annotated[float, typer.Option(help="Seconds of simulated history played at start.")] = 3600.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until killed).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Run a built-in, seeded call-center simulator live, with /metrics and a terminal wallboard."""
    from ccmon import wallboard
    from ccmon.simulator import DEMO_CONFIG
    from ccmon.sources.simulated import SimulatedSwitch

    logging.basicConfig(level=logging.WARNING)
    monitor = _monitor(config, defaults=DEMO_CONFIG)
    switch = SimulatedSwitch(monitor, seed=seed, history_seconds=history)
    switch.step()
    server, stop = _serve(monitor, [switch], listen, duration)
    console = Console()
    if not console.is_terminal:
        print(f"ccmon demo: serving http://{listen}/metrics (seed {seed})", flush=True)

    def snapshot() -> tuple[Any, Any, Any, float]:
        return monitor.queues("today"), monitor.totals("today"), monitor.calls(), monitor.now or time.time()

    try:
        wallboard.run_live(snapshot, stop, refresh_seconds=1.0, console=console)
    except KeyboardInterrupt:
        stop.set()
    server.stop()


alerts_app = typer.Typer(no_args_is_help=True, help="Manager alerts of a running ccmon.")
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    url: Annotated[str, typer.Option(help="The running ccmon's address (its --listen).")] = "127.0.0.1:9108",
    output: Annotated[str, typer.Option(help="table or json")] = "table",
) -> None:
    """Show the alerts firing now in a running ``ccmon run`` or ``ccmon demo``."""
    import urllib.request

    base = url if url.startswith(("http://", "https://")) else f"http://{url}"
    try:
        with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5) as r:
            alerts = json.loads(r.read())["alerts"]
    except (OSError, ValueError, KeyError) as e:
        raise _fail(f"cannot read {base}/api/v1/alerts: {e}") from None
    if output == "json":
        print(json.dumps(alerts, indent=2))
        return
    table = Table(title=f"Alerts firing at {base} ({len(alerts)})")
    for column in ("alert", "severity", "where", "since", "summary"):
        table.add_column(column)
    now = time.time()
    for a in alerts:
        labels = a["labels"]
        where = labels.get("queue") or labels.get("source") or ""
        since = _fmt_seconds(now - a["since"]) + " ago" if a.get("since") else ""
        table.add_row(labels["alertname"], labels.get("severity", ""), where, since, a["summary"])
    Console().print(table)


rules_app = typer.Typer(no_args_is_help=True, help="Prometheus rules equivalent to the built-in alerts.")
app.add_typer(rules_app, name="rules")


@rules_app.command("export")
def rules_export(
    config: ConfigOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write Prometheus recording and alerting rules equivalent to the config's alert rules."""
    from ccmon.alerting.prometheus_rules import export

    text = export(_monitor(config).config.alert_config)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


dashboards_app = typer.Typer(
    no_args_is_help=True, help="Grafana dashboards: the wallboard, supervisor, health."
)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("build")
def dashboards_build(
    out: Annotated[Path, typer.Option(help="Folder for the JSON models.")] = Path("dashboards"),
) -> None:
    """Write the dashboards' JSON models (generated: do not edit them, edit python/ccmon/dashboards.py)."""
    from ccmon import dashboards

    out.mkdir(parents=True, exist_ok=True)
    for name in dashboards.BOARDS:
        (out / f"{name}.json").write_text(dashboards.render(name))
        print(out / f"{name}.json")


@dashboards_app.command("push")
def dashboards_push(
    url: Annotated[str, typer.Option(help="Grafana's URL, e.g. http://grafana:3000")],
    token_file: Annotated[Path, typer.Option("--token-file", help="A file holding a service-account token.")],
    folder: Annotated[str, typer.Option(help="The folder to put them in (created if missing).")] = "ccmon",
) -> None:
    """Create or update the dashboards in Grafana, idempotently (same uids, overwritten)."""
    from ccmon import dashboards

    try:
        token = token_file.read_text().strip()
    except OSError as e:
        raise _fail(f"--token-file: {e}") from None
    try:
        for uid in dashboards.push(url, token, folder):
            print(f"pushed {uid}")
    except Exception as e:  # the client's errors (HTTP, connection) end the command with their message
        raise _fail(f"pushing to {url}: {e}") from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
