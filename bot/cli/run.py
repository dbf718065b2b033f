"""``python -m bot run``: start the whole assistant under supervision (what ``make run`` calls)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bot import launch
from bot import settings as settings_module
from bot.logs import FORMAT, configure_logging, rotating_handler
from bot.supervise import Policy, Supervisor, install_signal_handlers

logger = logging.getLogger("bot.supervise")


def register(groups: Any) -> None:
    """Adds the ``run`` command."""
    p = groups.add_parser("run", help="start the assistant (Rasa, action server, web page, staff site) and keep it up")
    p.set_defaults(run=run)


def _shown(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def supervisor_settings() -> settings_module.Settings | None:
    """The settings of a supervised start (`run`, `cluster`), with its log, or None after saying what is wrong."""
    configure_logging()
    try:
        config = settings_module.load()
    except settings_module.SettingsError as e:
        print(f"error: invalid setting: {e}", file=sys.stderr)
        return None
    if not config.model.exists():
        print(f"error: no model at {config.model}: run `make train`", file=sys.stderr)
        return None
    logger.addHandler(rotating_handler(config.log_dir / "supervise.log", FORMAT))
    return config


def run(args: argparse.Namespace) -> int:
    """Validates the settings, starts everything, prints the URLs, supervises until Ctrl-C."""
    config = supervisor_settings()
    if config is None:
        return 2
    supervisor = Supervisor(launch.assistant(config), Policy(start_timeout_s=config.start_timeout_s))
    install_signal_handlers(supervisor)
    print(f"Starting the assistant (logs appended in {config.log_dir}/)...", flush=True)
    try:
        supervisor.start()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    host = "localhost" if config.interface in ("127.0.0.1", "0.0.0.0") else config.interface
    print(f"""The assistant is up (PIDs {supervisor.pids()}):
  web page:       http://{host}:{config.web_port}/   (the chat widget)
  REST webhook:   http://{host}:{config.port}/webhooks/rest/webhook
  socket.io:      http://{host}:{config.port}/socket.io/
  action server:  http://{config.actions_interface}:{config.actions_port}/health   (internal)
  model server:   http://127.0.0.1:{config.model_server_port}/health   (internal: Rasa pulls promoted models here)
  staff site:     http://{config.staff_interface}:{config.staff_port}/   (staff only; add an account:
                  python -m bot staff add NAME)
  conversations:  {_shown(config.database)}
Try:  curl -s -XPOST http://{host}:{config.port}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
        -d '{{"sender":"me","message":"hi"}}'
A process that dies or hangs is restarted. Press Ctrl-C to stop.""", flush=True)
    supervisor.run()
    print("Stopped.", flush=True)
    return 0
