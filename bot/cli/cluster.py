"""``python -m bot cluster``: several Rasa servers behind nginx, on PostgreSQL and Redis (``make run-cluster``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.supervise import install_signal_handlers


def register(groups: Any) -> None:
    """Adds the ``cluster`` command."""
    p = groups.add_parser("cluster", help="start N Rasa servers and action servers behind nginx, on PostgreSQL "
                                          "and Redis, and keep them up (deploy/README.md)")
    p.add_argument("--replicas", type=int, default=2,
                   help="Rasa servers (each with its action server); default 2. nginx's limits are settings: "
                        "MAX_BODY_BYTES, RATE_LIMIT_PER_S, RATE_LIMIT_BURST (README, Settings)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validates the settings, starts everything, prints the URLs, supervises until Ctrl-C."""
    from bot.cli.run import supervisor_settings
    from bot.cluster import Cluster, ClusterError, Options

    config = supervisor_settings()
    if config is None:
        return 2
    try:
        cluster = Cluster(config, Options(args.replicas))
        print(f"Starting a cluster of {args.replicas} Rasa servers (state in {config.var_dir}/, logs appended in "
              f"{config.log_dir}/)...", flush=True)
        cluster.start()
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    assert cluster.supervisor is not None
    install_signal_handlers(cluster.supervisor)
    width = max(len(k) for k in cluster.urls())
    lines = "\n".join(f"  {name + ':':{width + 1}} {url}" for name, url in cluster.urls().items())
    print(f"""The cluster is up (PIDs {cluster.supervisor.pids()}):
{lines}
Try:  curl -s -XPOST {cluster.public_url}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
        -d '{{"sender":"me","message":"hi"}}'
A process that dies or hangs is restarted. Press Ctrl-C to stop.""", flush=True)
    cluster.run()
    print("Stopped.", flush=True)
    return 0
