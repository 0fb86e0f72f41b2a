"""The files of deploy/ name commands and options that exist (docs/deployment.md).

No nginx, systemd or Docker engine runs here: the files are checked against the ``tessera``
command line, which is what goes wrong when a command or option is renamed.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from engine.cli import main

DEPLOY = Path(__file__).parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def check_tessera_command(argv: list[str]) -> None:
    """``argv`` (after ``tessera``) names a real command, and every option is one of its options."""
    command_name, *args = argv
    assert command_name in main.commands, f"tessera has no command {command_name!r}"
    command = main.commands[command_name]
    known = {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts}
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in known, f"tessera {command_name} has no option {arg}"
    # the command line parses (placeholders filled in as systemd would)
    filled = [re.sub(r"%i|\$\{\w+\}", "8001", arg) for arg in args]
    with click.Context(command) as ctx:
        command.parse_args(ctx, filled)


def test_the_units_run_tessera_commands_that_exist() -> None:
    assert {p.name for p in UNITS} == {"tessera-web@.service", "tessera-worker@.service", "tessera-backup.service"}
    for path in UNITS:
        exec_start = unit(path)["Service"]["ExecStart"]
        program, *argv = shlex.split(exec_start)
        assert program.endswith("/bin/tessera"), path.name
        check_tessera_command(argv)


def test_the_web_unit_serves_one_process_per_port_and_the_worker_unit_runs_jobs() -> None:
    web = unit(DEPLOY / "systemd" / "tessera-web@.service")["Service"]["ExecStart"]
    assert shlex.split(web)[1:3] == ["serve", "--host"] and "--port %i" in web and "--workers 1" in web
    worker = unit(DEPLOY / "systemd" / "tessera-worker@.service")["Service"]
    assert shlex.split(worker["ExecStart"])[1] == "worker"
    assert worker["EnvironmentFile"] == "/etc/tessera/tessera.env"
    target = unit(DEPLOY / "systemd" / "tessera.target")["Unit"]["Wants"].split()
    assert {name.split("@")[0] for name in target} == {"tessera-web", "tessera-worker"}


def test_backups_run_nightly_encrypted_verified_and_with_retention() -> None:
    service = unit(DEPLOY / "systemd" / "tessera-backup.service")["Service"]
    assert service["Type"] == "oneshot"
    argv = shlex.split(service["ExecStart"])[1:]
    assert argv[0] == "backup" and {"--keep-daily", "--keep-weekly", "--encrypt-key-file", "--verify"} <= set(argv)
    timer = unit(DEPLOY / "systemd" / "tessera-backup.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 02:15:00" and timer["Persistent"] == "true"


def test_the_commands_the_units_name_are_in_tessera_help() -> None:
    listed = CliRunner().invoke(main, ["--help"]).output
    for name in ("serve", "worker", "migrate", "backup", "restore", "init"):
        assert re.search(rf"^\s+{name}\s", listed, re.MULTILINE), name


def dockerfile_instructions(path: Path) -> list[str]:
    """One string per instruction: comments dropped, ``\\`` continuations joined."""
    lines = [line.strip() for line in path.read_text().splitlines() if not line.strip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def test_the_dockerfile_installs_the_built_wheel_and_serves() -> None:
    instructions = dockerfile_instructions(DEPLOY / "Dockerfile")
    assert instructions[0].startswith("FROM python:3.1")
    copy = next(line for line in instructions if line.startswith("COPY"))
    assert copy.split()[1] == "dist/tessera_crm-*.whl"  # the wheel `python -m build` writes
    assert any(line.startswith("RUN pip install") and ".whl" in line for line in instructions)
    assert "USER tessera" in instructions
    cmd = next(line for line in instructions if line.startswith("CMD"))
    argv = yaml.safe_load(cmd.removeprefix("CMD").strip())  # the JSON (exec) form
    assert argv[0] == "tessera" and argv[1] == "serve"
    check_tessera_command(argv[1:])
    assert "--host" in argv and argv[argv.index("--host") + 1] == "0.0.0.0"
    healthcheck = next(line for line in instructions if line.startswith("HEALTHCHECK"))
    assert "http://127.0.0.1:8000/healthz" in healthcheck


def test_nginx_proxies_to_the_web_ports_and_hides_metrics() -> None:
    conf = (DEPLOY / "nginx" / "tessera.conf").read_text()
    assert conf.count("{") == conf.count("}")
    ports = re.findall(r"server 127\.0\.0\.1:(\d+)", conf)
    assert ports and all(8001 <= int(port) <= 8099 for port in ports)
    assert re.search(r"location = /metrics \{\s*return 404;", conf)
    assert "proxy_set_header X-Request-ID $request_id;" in conf
    assert "proxy_set_header Host $host;" in conf
    body_limit = re.search(r"client_max_body_size (\d+)m;", conf)
    assert body_limit and int(body_limit.group(1)) >= 10  # Config.max_body_bytes is 10 MiB


def test_the_example_environment_names_real_settings() -> None:
    from engine.config import load_config

    settings = dict(
        line.split("=", 1)
        for line in (DEPLOY / "tessera.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    config = load_config(settings, Path("/nonexistent.toml"))
    assert config.log_format == "json"
    assert config.metrics_token == "CHANGE-ME"
    assert config.public_url == "https://crm.example.com"
    assert config.trusted_proxies == 1
    documented = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for name in settings:
        assert name in documented, name


@pytest.mark.parametrize("path", sorted((DEPLOY / "prometheus").glob("*.yml")), ids=lambda p: p.name)
def test_the_prometheus_files_are_yaml_and_use_our_metric_names(path: Path) -> None:
    text = path.read_text()
    yaml.safe_load(text)

    source = (Path(__file__).parents[2] / "engine" / "api" / "metrics.py").read_text()
    for name in set(re.findall(r"\btessera_[a-z_]+", text)):
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert f'"{base}"' in source or name == "tessera_metrics_token", name
