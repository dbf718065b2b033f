"""Settings come from the environment; a malformed value stops the start with a message naming it."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from bot import settings
from bot.settings import ENV_NAMES, ROOT, SPACY_DIR, Settings, SettingsError, environment, load

PORTS = ["PORT", "WEB_PORT", "ACTIONS_PORT"]
POSITIVE_NUMBERS = ["ALERT_TIMEOUT_S", "ALERT_RETRY_MAX_S", "ALERT_DEDUP_WINDOW_S", "MAX_BODY_BYTES",
                    "START_TIMEOUT_S", "RATE_LIMIT_PER_S"]


def error_for(env: dict) -> str:
    with pytest.raises(SettingsError) as info:
        load(env)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# Defaults and overrides.


def test_defaults():
    got = load({})
    assert got == Settings()
    assert (got.interface, got.port, got.web_port, got.actions_port) == ("127.0.0.1", 5005, 8080, 5055)
    assert got.actions_interface == "127.0.0.1"
    assert got.model == ROOT / "models" / "current.tar.gz"
    assert got.log_dir == ROOT / "logs" and got.var_dir == ROOT / "var"
    assert got.alert_webhook_url == "" and got.session_secret == "" and got.database_url == ""
    assert got.cors_origins == ()
    assert got.max_body_bytes == 1_000_000
    assert got.alert_timeout_s == 3.0 and got.alert_retry_max_s == 300.0 and got.alert_dedup_window_s == 3600.0


def test_empty_and_blank_values_mean_the_default():
    assert load({name: "" for name in ENV_NAMES.values()}) == Settings()
    assert load({name: "   " for name in ENV_NAMES.values()}) == Settings()


def test_overrides_are_typed_and_stripped():
    got = load({"ALERT_WEBHOOK_URL": " http://x/alert ", "ALERT_TIMEOUT_S": "1.5", "PORT": " 6000 ",
                "MAX_BODY_BYTES": "2048", "INTERFACE": "0.0.0.0", "SESSION_SECRET": "s"})
    assert got.alert_webhook_url == "http://x/alert" and got.alert_timeout_s == 1.5
    assert got.port == 6000 and isinstance(got.port, int)
    assert got.max_body_bytes == 2048 and isinstance(got.max_body_bytes, int)
    assert got.interface == "0.0.0.0" and got.session_secret == "s"


def test_load_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "8123")
    assert load().web_port == 8123


def test_every_field_has_an_environment_variable():
    assert set(ENV_NAMES) == {f.name for f in fields(Settings)}
    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)


# ---------------------------------------------------------------------------------------------
# Malformed values name their variable.


def test_malformed_number_names_the_variable():
    with pytest.raises(ValueError, match="ALERT_TIMEOUT_S"):
        load({"ALERT_TIMEOUT_S": "soon"})


@pytest.mark.parametrize("name", PORTS)
@pytest.mark.parametrize("raw", ["abc", "0", "70000", "65536", "-1", "5005.5", "80a"])
def test_bad_ports_name_their_variable(name, raw):
    message = error_for({name: raw})
    assert re.match(rf"{name}=", message), message  # "PORT" must not be confused with "WEB_PORT"


@pytest.mark.parametrize("name", PORTS)
def test_edge_ports_are_accepted(name):
    others = {"PORT": "5005", "WEB_PORT": "8080", "ACTIONS_PORT": "5055"}
    assert getattr(load({**others, name: "1"}), name.lower()) == 1
    assert getattr(load({**others, name: "65535"}), name.lower()) == 65535


@pytest.mark.parametrize("env, named", [
    ({"PORT": "8080"}, ["PORT", "WEB_PORT"]),
    ({"WEB_PORT": "5055"}, ["WEB_PORT", "ACTIONS_PORT"]),
    ({"ACTIONS_PORT": "5005"}, ["PORT", "ACTIONS_PORT"]),
    ({"PORT": "7000", "WEB_PORT": "7000", "ACTIONS_PORT": "7000"}, PORTS),
])
def test_equal_ports_are_refused(env, named):
    message = error_for(env)
    for name in named:
        assert re.search(rf"\b{name}\b", message), message


@pytest.mark.parametrize("name", POSITIVE_NUMBERS)
@pytest.mark.parametrize("raw", ["0", "-1", "-0.5", "abc", "nan", "1 2", "3s"])
def test_non_positive_or_non_numeric_values_name_their_variable(name, raw):
    message = error_for({name: raw})
    assert re.match(rf"{name}=", message), message


@pytest.mark.parametrize("raw", ["-1", "1.5", "abc", "2 3"])
def test_rate_limit_burst_is_a_whole_number_0_or_more(raw):
    assert error_for({"RATE_LIMIT_BURST": raw}).startswith("RATE_LIMIT_BURST=")


def test_rate_limit_defaults_and_overrides():
    assert (load({}).rate_limit_per_s, load({}).rate_limit_burst) == (10.0, 20)
    got = load({"RATE_LIMIT_PER_S": "0.5", "RATE_LIMIT_BURST": "0"})
    assert (got.rate_limit_per_s, got.rate_limit_burst) == (0.5, 0)


def test_body_limit_must_be_a_whole_number():
    assert "MAX_BODY_BYTES" in error_for({"MAX_BODY_BYTES": "1.5"})


@pytest.mark.parametrize("name", ["ALERT_TIMEOUT_S", "ALERT_RETRY_MAX_S", "ALERT_DEDUP_WINDOW_S"])
def test_positive_fractions_are_accepted(name):
    assert getattr(load({name: "0.25"}), name.lower()) == 0.25


@pytest.mark.parametrize("raw", ["ftp://example.com/hook", "example.com/hook", "javascript:alert(1)", "http://",
                                 "file:///etc/passwd", "https:///path", "hook"])
def test_webhook_must_be_an_http_url(raw):
    message = error_for({"ALERT_WEBHOOK_URL": raw})
    assert message.startswith("ALERT_WEBHOOK_URL="), message


@pytest.mark.parametrize("raw", ["https://hooks.example.com/x?token=1", "http://127.0.0.1:9000/alert"])
def test_http_webhooks_are_accepted(raw):
    assert load({"ALERT_WEBHOOK_URL": raw}).alert_webhook_url == raw


@pytest.mark.parametrize("raw", ["example.com", "https://ok.example ftp://bad.example", "file:///x",
                                 "http://ok.example //nohost", "null"])
def test_cors_origins_must_be_http_urls(raw):
    message = error_for({"CORS_ORIGINS": raw})
    assert message.startswith("CORS_ORIGINS="), message


def test_cors_origins_are_space_separated():
    got = load({"CORS_ORIGINS": " https://a.example   http://b.example:8080 "})
    assert got.cors_origins == ("https://a.example", "http://b.example:8080")
    assert got.allowed_origins == got.cors_origins
    assert load({"CORS_ORIGINS": "*"}).allowed_origins == ("*",)


# ---------------------------------------------------------------------------------------------
# Derived values.


def test_relative_paths_resolve_under_root_and_absolute_ones_are_kept(tmp_path):
    got = load({"MODEL": "models/other.tar.gz", "LOG_DIR": "somewhere/logs", "VAR_DIR": str(tmp_path)})
    assert got.model == ROOT / "models" / "other.tar.gz"
    assert got.log_dir == ROOT / "somewhere" / "logs"
    assert got.var_dir == tmp_path
    assert all(p.is_absolute() for p in (got.model, got.log_dir, got.var_dir))


def test_database_defaults_to_sqlite_in_var_dir(tmp_path):
    assert load({}).database == f"sqlite:///{ROOT / 'var' / 'assistant.db'}"
    assert load({"VAR_DIR": str(tmp_path)}).database == f"sqlite:///{tmp_path}/assistant.db"
    assert load({"VAR_DIR": "state"}).database == f"sqlite:///{ROOT / 'state' / 'assistant.db'}"
    url = "postgresql://u@db/assistant"
    assert load({"DATABASE_URL": url, "VAR_DIR": str(tmp_path)}).database == url


def test_allowed_origins_default_to_the_web_page():
    assert load({}).allowed_origins == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert load({"WEB_PORT": "9001"}).allowed_origins == ("http://localhost:9001", "http://127.0.0.1:9001")


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        load({}).port = 1  # type: ignore[misc]


@pytest.mark.parametrize("env", [
    {},
    {"INTERFACE": "0.0.0.0", "PORT": "6001", "WEB_PORT": "6002", "ACTIONS_PORT": "6003",
     "ACTIONS_INTERFACE": "10.0.0.2", "MODEL": "/srv/model.tar.gz", "LOG_DIR": "l", "VAR_DIR": "/tmp/v",
     "DATABASE_URL": "sqlite:////tmp/x.db", "CORS_ORIGINS": "https://a.example http://b.example",
     "MAX_BODY_BYTES": "5000", "ALERT_WEBHOOK_URL": "https://hooks.example/a", "ALERT_TIMEOUT_S": "0.75",
     "ALERT_RETRY_MAX_S": "12", "ALERT_DEDUP_WINDOW_S": "60.5", "SESSION_SECRET": "secret",
     "START_TIMEOUT_S": "30"},
])
def test_environment_round_trips_through_load(env):
    original = load(env)
    exported = environment(original)
    assert set(exported) == set(ENV_NAMES.values())
    assert all(isinstance(v, str) for v in exported.values())
    assert load(exported) == original


def test_environment_carries_the_values():
    exported = environment(load({"PORT": "6001", "CORS_ORIGINS": "https://a.example http://b.example"}))
    assert exported["PORT"] == "6001"
    assert exported["CORS_ORIGINS"] == "https://a.example http://b.example"


# ---------------------------------------------------------------------------------------------
# Single sources of truth.


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in ENV_NAMES.values() if f"`{name}`" not in readme]
    assert missing == [], f"README.md does not list {missing}"


def spacy_relative() -> str:
    return SPACY_DIR.relative_to(ROOT).as_posix()


def test_makefile_spacy_target_is_in_spacy_dir():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^SPACY\s*:=\s*([^#\s]+)", makefile, re.MULTILINE)
    assert match, "no `SPACY :=` line in the Makefile"
    assert Path(match.group(1)).as_posix().startswith(spacy_relative() + "/"), match.group(1)


def test_config_spacy_model_is_spacy_dir():
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    models = [c.get("model") for c in config["pipeline"] if c.get("name") == "SpacyNLP"]
    assert models == [spacy_relative()]


def test_source_tree_paths_are_under_root():
    for path in (settings.SPACY_DIR, settings.CREDENTIALS, settings.ENDPOINTS, settings.CRISIS_SUITE,
                 settings.HOLDOUT_CASES):
        assert path.is_relative_to(ROOT)
    assert settings.CREDENTIALS.is_file() and settings.ENDPOINTS.is_file()


def test_retention_agrees_with_what_visitors_are_told():
    from bot import facts

    assert settings.Settings().retention_days == int(facts.load().retention_days)
    with pytest.raises(settings.SettingsError, match="RETENTION_DAYS=30 differs"):
        settings.load({"RETENTION_DAYS": "30"})
