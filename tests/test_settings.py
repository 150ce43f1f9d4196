"""Settings: read from the environment once, typed, refused when invalid, and documented by
the README's configuration table, which is held to the class both ways."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from app import cpu_limit
from app.settings import Settings
from tests.support.processes import ROOT


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "HOST", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.server.port == 8000
    assert settings.server.host == "0.0.0.0"
    assert settings.server.admin_port is None  # one port serves everything
    assert settings.server.web_concurrency is None  # sized by the pod's CPUs
    assert settings.model_dir == Path("models/churn")
    assert settings.model_threads == 1
    assert settings.max_batch_rows == 1000


AVAILABLE = sorted(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "cores", "threads", "workers"),
    [(None, 1, 1, 1), (None, 2, 1, 2),  # no cpu.max (a v1 host, the root cgroup): the mask
     ("max 100000", 2, 1, 2),  # no limit: the mask
     ("150000 100000", 2, 1, 2), ("50000 100000", 2, 1, 1),  # the quota, rounded up
     ("200000 100000", 1, 1, 1),  # the mask caps the quota
     ("400000 100000", 2, 2, 1)],  # two model threads a worker: half the workers
)  # fmt: skip
def test_the_default_worker_count_is_sized_by_the_pods_cpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    cpu_max: str | None, cores: int, threads: int, workers: int,
) -> None:  # fmt: skip
    """The README's default: the pod's CPUs (its cgroup v2 quota rounded up, capped by the
    affinity mask) over GLASSBOX_MODEL_THREADS, never the node's count. A fake cgroup mount
    stands for /sys/fs/cgroup and a fake mask of ``cores`` CPUs for the real one (which the
    pinned gunicorn test below narrows for real), so every case runs on any machine."""
    root = tmp_path / "cgroup"
    root.mkdir()
    if cpu_max is not None:
        (root / "cpu.max").write_text(cpu_max + "\n")
    (tmp_path / "self").write_text("0::/\n")
    monkeypatch.setattr(cpu_limit, "CGROUP_ROOT", root)
    monkeypatch.setattr(cpu_limit, "SELF_CGROUP", tmp_path / "self")
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GLASSBOX_WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("GLASSBOX_MODEL_THREADS", str(threads))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert Settings().workers == workers
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert Settings().workers == 5  # the variable wins over the default


def test_conventional_server_variables_and_prefixed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GLASSBOX_MAX_BATCH_ROWS", "20")
    monkeypatch.setenv("GLASSBOX_MODEL_DIR", "/srv/model")
    settings = Settings()
    assert (settings.server.port, settings.server.web_concurrency, settings.max_batch_rows) == (
        9001,
        3,
        20,
    )
    assert settings.model_dir == Path("/srv/model")


@pytest.mark.parametrize(
    ("graceful", "stop", "flush", "refused"),
    [("4", "1", "2", False), ("3", "1", "2", True),
     ("1", "0", "0", False), ("1", "0.5", "0", True)],
)  # fmt: skip
def test_a_graceful_timeout_the_shutdown_work_fills_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, graceful: str, stop: str, flush: str, refused: bool
) -> None:
    """The graceful timeout holds the drift stop, the span flush and 0.5 s, with time to spare
    for open connections: 4 s > 1 + 2 + 0.5, 3 s is not; 1 s > 0.5 with both bounds at zero."""
    monkeypatch.setenv("GLASSBOX_GRACEFUL_TIMEOUT_SECONDS", graceful)
    monkeypatch.setenv("GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS", stop)
    monkeypatch.setenv("GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS", flush)
    if refused:
        with pytest.raises(ValidationError, match="GLASSBOX_GRACEFUL_TIMEOUT_SECONDS"):
            Settings()
    else:
        assert Settings().server.graceful_timeout_seconds == int(graceful)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "0"), ("PORT", "http"), ("WEB_CONCURRENCY", "0"), ("GLASSBOX_MAX_BATCH_ROWS", "-1"),
     ("GLASSBOX_LOG_LEVEL", "LOUD")],
)  # fmt: skip
def test_invalid_values_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


# --- the README's configuration table is the settings' documentation: held to the class --------

README = (ROOT / "README.md").read_text()
CONVENTIONAL = {"HOST", "PORT", "WEB_CONCURRENCY", "POD_NAME", "POD_NAMESPACE"}


def documented_variables() -> dict[str, str]:
    """{variable: its default as the README's configuration table writes it}."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        defaults = re.findall(r"`([^`]*)`", cells[1])
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)  # one phrase for all: "unset", "SDK defaults"
        table.update(zip(names, defaults, strict=True))
    return table


def setting_variables() -> dict[str, tuple[str, FieldInfo]]:
    """{documented variable: (the setting's path in Settings, its field)}, every leaf setting."""
    out: dict[str, tuple[str, FieldInfo]] = {}

    def walk(model: type[BaseSettings], path: str) -> None:
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseSettings):
                walk(kind, f"{path}{name}.")
                continue
            alias = field.validation_alias
            variable = alias.choices[0] if alias is not None else f"{prefix}{name}".upper()
            out[str(variable)] = (f"{path}{name}", field)

    walk(Settings, "")
    return out


def as_documented(text: str) -> object:
    if text == "unset":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def default_of(field: FieldInfo) -> object:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def test_every_setting_is_in_the_readmes_table() -> None:
    assert sorted(set(setting_variables()) - set(documented_variables())) == []


def test_every_variable_in_the_readmes_table_is_a_setting() -> None:
    ours = {v for v in documented_variables() if v.startswith("GLASSBOX_") or v in CONVENTIONAL}
    assert sorted(ours - set(setting_variables())) == []


@pytest.mark.parametrize("variable", sorted(setting_variables()))
def test_the_readme_states_each_settings_default(variable: str) -> None:
    path, field = setting_variables()[variable]
    assert as_documented(documented_variables()[variable]) == default_of(field), path


@pytest.mark.parametrize("variable", sorted(setting_variables()))
def test_each_documented_variable_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """Set one variable to a valid value other than its default and read it back."""
    path, field = setting_variables()[variable]
    for other in setting_variables():
        monkeypatch.delenv(other, raising=False)
    value = OTHER_VALUES.get(variable) or other_value(default_of(field))
    monkeypatch.setenv(variable, value)
    read: object = Settings()
    for part in path.split("."):
        read = getattr(read, part)
    assert read not in (None, default_of(field)), (variable, value, read)


OTHER_VALUES = {
    "GLASSBOX_LOG_FORMAT": "console", "GLASSBOX_LOG_LEVEL": "DEBUG",
    "GLASSBOX_DRIFT_PSI_DRIFT": "0.3", "GLASSBOX_DRIFT_JS_DRIFT": "0.3",
    "GLASSBOX_DRIFT_MISSING_DRIFT": "0.2", "GLASSBOX_LATENCY_SLO_SECONDS": "0.2",
    "GLASSBOX_TEST_CHUNK_DELAY_SECONDS": "0.5", "GLASSBOX_ADMIN_PORT": "9100",
    "WEB_CONCURRENCY": "3", "GLASSBOX_WORKER_TMP_DIR": "/", "GLASSBOX_FAST_PATHS": "none",
    "GLASSBOX_MODEL_ENGINE": "lightgbm", "GLASSBOX_MODEL_ENGINE_DIR": ".run/engine",
}  # fmt: skip


def other_value(default: object) -> str:
    if isinstance(default, bool):
        return json.dumps(not default)
    if isinstance(default, int):
        return json.dumps(default + 1)
    if isinstance(default, float):
        return json.dumps(default / 2)
    if isinstance(default, list):
        return json.dumps(default[:1])
    if default is None:
        return "set-by-test"
    return f"{default}-other"


def gunicorn_config(
    tmp_path: Path, entry: str = "app.serve", pinned: int | None = None, **variables: str
) -> dict[str, str]:
    """What gunicorn itself resolves from gunicorn.conf.py (its --print-config), with these
    variables only; ``pinned``: on that one core."""
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), **variables}
    done = subprocess.run(
        [sys.executable, "-m", entry, "--config", "gunicorn.conf.py", "--print-config"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
        preexec_fn=None if pinned is None else lambda: os.sched_setaffinity(0, {pinned}),
    )  # fmt: skip
    return dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in done.stdout.splitlines())
    )


@pytest.mark.parametrize("entry", ["app.serve", "gunicorn"])
def test_gunicorn_takes_its_process_settings_from_the_settings(tmp_path: Path, entry: str) -> None:
    """Started as the server is (``python -m app.serve``, gunicorn's command line) and by
    plain gunicorn."""
    config = gunicorn_config(
        tmp_path, entry, GLASSBOX_GRACEFUL_TIMEOUT_SECONDS="7", WEB_CONCURRENCY="3", PORT="9123"
    )
    assert config["graceful_timeout"] == "7"
    assert config["workers"] == "3"
    assert config["bind"] == "['0.0.0.0:9123']"
    assert config["worker_tmp_dir"] == "None"  # gunicorn's default: the system's temp dir


def test_with_an_admin_port_one_gunicorn_binds_both(tmp_path: Path) -> None:
    config = gunicorn_config(tmp_path, HOST="127.0.0.1", PORT="9123", GLASSBOX_ADMIN_PORT="9124")
    assert config["bind"] == "['127.0.0.1:9123', '127.0.0.1:9124']"


def test_the_shipped_configuration_needs_no_writable_path_but_its_volumes(tmp_path: Path) -> None:
    """gunicorn >= 25.1 opens a control socket under $XDG_RUNTIME_DIR or $HOME unless told
    not to; the heartbeat files go where GLASSBOX_WORKER_TMP_DIR says."""
    config = gunicorn_config(tmp_path, GLASSBOX_WORKER_TMP_DIR=str(tmp_path))
    assert config["control_socket_disable"] == "True"
    assert config["worker_tmp_dir"] == str(tmp_path)


def test_a_worker_tmp_dir_that_is_not_a_directory_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GLASSBOX_WORKER_TMP_DIR", str(tmp_path / "absent"))
    with pytest.raises(ValidationError, match="worker_tmp_dir"):
        Settings()


def test_gunicorn_runs_one_worker_on_one_core_by_default(tmp_path: Path) -> None:
    """WEB_CONCURRENCY unset, the master pinned to one core: one worker, whatever the node
    has (and whatever the quota: it is at least one)."""
    assert gunicorn_config(tmp_path, pinned=AVAILABLE[0])["workers"] == "1"
