"""
gunicorn settings for ``merchantry serve``, derived from the configuration.

Threads (``gthread``) rather than more processes: Django views wait on the
database and on payment providers much more than they compute.
"""

import gc
import sys

from merchantry.cli import bootstrap
from merchantry.core.logging import build_logging_config

_config = bootstrap()

wsgi_app = "merchantry.wsgi:application"
bind = [f"{'[' + _config.host + ']' if ':' in _config.host else _config.host}:{_config.port}"]
workers = _config.web_workers
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 15
keepalive = 5
# Our middleware writes one structured access line per request.
accesslog = None
errorlog = "-"
logconfig_dict = build_logging_config(
    level=_config.log_level, fmt=_config.resolved_log_format(isatty=sys.stderr.isatty())
)
# gunicorn gives its error logger a handler of its own before applying this
# dict; naming the logger here replaces that handler with ours.
logconfig_dict["loggers"]["gunicorn.error"] = {
    "handlers": ["default"],
    "level": _config.log_level,
    "propagate": False,
}
# The runtime control socket is one fixed path per user; two installations on
# one machine would fight over it, and nothing here uses it.
control_socket_disable = True
# gunicorn believes X-Forwarded-Proto from loopback by default; believe it
# from nobody unless the operator says a proxy stands in front.
forwarded_allow_ips = "*" if _config.trust_proxy_headers else ""
proc_name = "merchantry-web"


def post_worker_init(worker: object) -> None:
    """Keep the garbage collector's full passes off the request path.

    Once Django is loaded a worker holds a few hundred thousand long-lived
    objects (modules, URL patterns, schemas), and every full collection
    walked them all, pausing requests for tens of milliseconds: the Store
    API's p99 at 32 clients was 150-370 ms while its p90 was 25 ms. Frozen
    after loading, they are never scanned again. The thresholds stay as they
    are: a larger first generation made each young collection long enough to
    show in the p99 of a single client.
    """
    gc.collect()
    gc.freeze()
