"""Ray itself: import it (or say which extra installs it), start a local Ray or join a cluster
(its address checked first, its token sent), and Ray Data's settings."""

from __future__ import annotations

import os
import sys
from typing import Any

from tflkit.errors import TflkitError

__all__ = ["data_context", "ray_data", "reachable", "start", "token_auth"]


def ray_data() -> Any:
    """``ray.data``, or a TflkitError saying which extra installs it."""
    try:
        import ray.data
    except ImportError as exc:
        raise TflkitError("tflkit.ray needs Ray Data: pip install 'tflkit[ray]'") from exc
    return ray.data


def start(address: str | None = None, threads: int = 1) -> int:
    """Start a local Ray with this machine's CPUs (no address) or connect to the cluster at
    ``address``, unless Ray runs already in this process; quietly (Ray's messages off stdout,
    Ray Data's INFO lines and progress bars off). The number of actors that fit: the cluster's
    CPUs // ``threads``, at least 1.

    Raises:
        TflkitError: Ray is not installed, or the cluster cannot be reached.
    """
    import logging

    imported = sys.modules.get("ray")
    if address is not None and not (imported is not None and imported.is_initialized()):
        reachable(address)
        if imported is None:
            token_auth()  # before Ray is imported: it reads RAY_AUTH_MODE once, at import
    ray_data()
    import ray

    if not ray.is_initialized():
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address is None:  # a Ray of its own, even if a cluster runs here ("auto")
                ray.init(address="local", include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as exc:
            if address is None:
                raise TflkitError(f"cannot start a local Ray: {type(exc).__name__}: {exc}") from exc
            raise TflkitError(
                f"cannot connect to the Ray cluster at {address}: {exc} (a cluster with token "
                "authentication needs its token: RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from exc
    # Ray Data's INFO lines ("Starting execution ...") and its warning that progress bars are
    # off (the caller draws its own) stay out of the terminal
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = data_context()
    ctx.enable_progress_bars = False
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    return max(1, cpus // max(1, threads))


def token_auth() -> None:
    """Send the Ray token to the cluster when there is one and RAY_AUTH_MODE is unset.

    ``ray start`` (Ray 2.52+) turns token authentication on by itself when a token exists, but
    ``ray.init(address=...)`` does not: it retries unauthenticated for 20 s and fails. Turning
    it on with the user's own token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)
    connects as the ``ray`` command line does; RAY_AUTH_MODE, when set, is left as it is.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a ``host:port`` (or ``ray://host:port``) that takes no connection: Ray
    itself retries an unreachable cluster for minutes. "auto" and the like are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TflkitError(
            f"cannot reach the Ray cluster at {address}: {reason} (start one with "
            "'ray start --head', or leave out address= for a local Ray)"
        ) from None


def data_context() -> Any:
    """Ray Data's current ``DataContext`` (without the deprecation warnings it gives)."""
    import warnings

    import ray.data

    with warnings.catch_warnings():
        # Ray 2.60's DataContext warns about its own deprecated fields when it is built.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ray.data.DataContext.get_current()
