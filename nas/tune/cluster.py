"""Ray for ``nas search``: join the cluster at ``--address`` or start a private local one.

Joining a cluster that uses token authentication (Ray >= 2.52; ``ray start --head`` turns
it on whenever a token already exists, and every local ``ray.init()`` writes one to
``~/.ray/auth_token``) needs the client to run in token mode, i.e. ``RAY_AUTH_MODE=token``
in its environment. Ray switches a driver to token mode by itself only for
``address="auto"`` (``ray/_private/worker.py``, ``init``: "an explicit address (argument
or RAY_ADDRESS) never does"); with ``HOST:PORT`` and no ``RAY_AUTH_MODE``, ``ray.init``
retries the rejected connection for about 25 s (``ray/_private/node.py``,
``_init_gcs_client``: one attempt and one warning a second) and then fails. So before
``ray.init`` we ask the cluster's GCS once whether it accepts us as we are, and if it
wants a token, switch to token mode the way Ray does for ``auto``
(``maybe_enable_token_auth_if_token_available`` in
``ray/_private/authentication/authentication_token_setup.py``), with the token Ray itself
finds: ``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``
(https://docs.ray.io/en/latest/ray-security/token-auth.html). Where that fails, the error
is one line naming what to set.

A local Ray is started tight (``_start_local``): every server on 127.0.0.1, no dashboard
process, its files in a fresh folder only this user can enter, and a watchdog
(:mod:`nas.tune.watchdog`) that removes all of it within seconds of the driver's end,
whether it returns, raises or is killed. README.md, "Security", says what Ray does not let
us restrict.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util import first_line
from ..errors import ConfigError
from . import watchdog
from .config import SearchConfig

AUTH_MODE = "RAY_AUTH_MODE"  # ray/_private/authentication/authentication_token_setup.py: AUTH_MODE_ENV_VAR
GET_TOKEN_HINT = "`ray get-auth-token` on the cluster's head node prints it"


def start_ray(config: SearchConfig) -> bool:
    """Connect to ``config.address`` or start a local Ray (dashboard off). True if we started it.

    True also when we only connected: the caller then disconnects (``ray.shutdown``) at the
    end, which leaves a cluster we joined running.
    """
    import ray

    _quiet_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                              "configure_logging": True}
    if config.address:
        kwargs.pop("include_dashboard")  # a setting of the cluster we join, not ours (ray.init ignores it)
        _check_reachable(config.address)
        _authenticate(config.address)
        try:
            ray.init(address=config.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as e:
            raise ConfigError(f"cannot connect to the Ray cluster at {config.address!r}: {first_line(e) or type(e).__name__}") from None
    else:
        _start_local(kwargs)
    return True


def stop_ray() -> None:
    """Disconnect from Ray; a local Ray that :func:`start_ray` started is shut down with it.

    For a local Ray, then: its watchdog kills whatever Ray left running (idle workers, agents),
    removes its folder and exits; we wait for that.
    """
    import ray

    global _local
    try:
        ray.shutdown()
    finally:
        local, _local = _local, None
        if local is not None:
            _end_local(local)


# ---------------------------------------------------------------------------------------
# A local Ray, started tight
# ---------------------------------------------------------------------------------------

@dataclass
class _LocalRay:
    folder: str  # ours alone (0700); Ray's temp dir is inside it
    watchdog: watchdog.Watchdog


_local: _LocalRay | None = None  # the local Ray start_ray started, until stop_ray


def _start_local(kwargs: dict[str, Any]) -> None:
    """``ray.init`` a new local Ray on 127.0.0.1, without the dashboard, in a private folder, watched."""
    import ray

    global _local
    folder = tempfile.mkdtemp(prefix="nas-ray-", dir="/tmp" if os.name == "posix" else None)  # mode 0700
    _local = _LocalRay(folder, watchdog.start(folder, os.getpid(), _psutil_path()))
    temp_dir = os.path.join(folder, "ray")
    try:
        with _loopback_only(), _marked(folder), _without_api_server():
            ray.init(_temp_dir=temp_dir, _system_config=LOCAL_SYSTEM_CONFIG, **kwargs)
        # Ray made temp_dir world-writable (try_make_directory_shared in
        # ray/_common/utils.py, called by Node.__init__); the 0700 folder around it kept
        # others out all along, and this keeps them out of temp_dir too.
        os.chmod(temp_dir, 0o700)
    except BaseException:
        stop_ray()
        raise


# Ray's metrics (``enable_metrics_collection`` in ray_config_def.h): off, the raylet starts
# its dashboard agent with --disable-metrics-collection (ray/dashboard/agent.py), so no
# Prometheus exporter listens anywhere; nothing of nas reads Ray's metrics.
LOCAL_SYSTEM_CONFIG = {"enable_metrics_collection": False}

# ray/_private/ray_constants.py: ENABLE_RAY_CLUSTER, read from this variable when Ray is
# imported. False makes services.get_node_ip_address return 127.0.0.1.
_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def _loopback_only():
    """While Ray starts, make 127.0.0.1 this node's address, so that its servers listen there only.

    A new node takes its address from ``services.get_node_ip_address``
    (ray/_private/services.py), which gives the LAN address unless
    ``ray_constants.ENABLE_RAY_CLUSTER`` is False (Ray's own single-machine mode for macOS
    and Windows); ``ray.init(_node_ip_address="127.0.0.1")`` would not do: Ray replaces a
    loopback address by the LAN one (``resolve_ip_for_localhost``). With a loopback node
    address the GCS, the raylet (node manager, object manager) and the workers' gRPC servers
    listen on 127.0.0.1 (seen with ``ss -ltnp``), and so do the agents: the runtime env agent
    binds the node address, the dashboard agent's gRPC and HTTP servers and the metrics
    exporter bind 127.0.0.1 when the node address is loopback (ray/dashboard/agent.py,
    http_server_agent.py, modules/reporter/reporter_agent.py). The constant is read when
    Ray is imported, so it is set on the module too; the variable reaches every Ray process
    (they inherit it), for any of them that asks. Both are restored afterwards: the running
    node keeps its address, and a later ``--address`` search in this process is unchanged.
    """
    from ray._private import ray_constants

    saved_env, saved_const = os.environ.get(_CLUSTER_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_const
        _restore_env(_CLUSTER_ENV, saved_env)


@contextlib.contextmanager
def _marked(folder: str):
    """Put ``NAS_RAY_SESSION=<folder>`` in the environment the new Ray's processes inherit.

    The watchdog finds them by it: workers and agents are retitled (``ray::IDLE``), so their
    command lines do not name the folder, but the environment they started with does.
    """
    saved = os.environ.get(watchdog.MARKER)
    os.environ[watchdog.MARKER] = folder
    try:
        yield
    finally:
        _restore_env(watchdog.MARKER, saved)


@contextlib.contextmanager
def _without_api_server():
    """Do not start Ray's dashboard process (``dashboard.py``) while Ray starts.

    ``Node.start_head_processes`` (ray/_private/node.py) always calls ``start_api_server``;
    with ``include_dashboard=False`` it still runs ``dashboard.py`` with only the
    ``UsageStatsHead`` module and ``--disable-frontend`` (``services.start_api_server``),
    i.e. a process that reports usage statistics, which ``ray.init`` turns off anyway
    (``usage_lib.set_usage_stats_enabled_via_env_var(False)`` in ray/_private/worker.py).
    No setting skips it, so for this one call its starter is replaced by what it leaves
    behind when the dashboard is off: an empty dashboard URL. Should a Ray release rename
    it, nothing is replaced and the dashboard process starts as before
    (tests/tune/test_ray_local.py then fails).
    """
    from ray._private.node import Node

    original = Node.__dict__.get("start_api_server")
    if original is None:
        yield
        return

    def start_api_server(self, *args, **kwargs):
        if kwargs.get("include_dashboard") is not False:
            return original(self, *args, **kwargs)
        self._webui_url = ""
        return None

    Node.start_api_server = start_api_server
    try:
        yield
    finally:
        Node.start_api_server = original


def _end_local(local: _LocalRay) -> None:
    """Let the watchdog reap and clean up; do it here if the watchdog is gone."""
    watchdog.stop(local.watchdog)
    if os.path.exists(local.folder):
        watchdog.reap(local.folder, exclude={os.getpid()})
        watchdog.remove(local.folder)


def _psutil_path() -> str:
    """The folder to import psutil from: Ray ships it (ray/thirdparty_files), importing Ray finds it."""
    import psutil

    return os.path.dirname(os.path.dirname(os.path.abspath(psutil.__file__)))


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def check_resources(config: SearchConfig) -> None:
    """A trial that asks for more than any node has would wait forever: refuse it up front."""
    import ray

    have = {"CPU": 0.0, "GPU": 0.0}
    for node in ray.nodes():
        if node.get("Alive"):
            for k, most in have.items():
                have[k] = max(most, float(node.get("Resources", {}).get(k, 0.0)))
    for key, need, flag in (("CPU", config.cpus_per_trial, "--cpus-per-trial"),
                            ("GPU", config.gpus_per_trial, "--gpus-per-trial")):
        if need > have[key]:
            raise ConfigError(f"{flag} {need:g} asks for more than the largest Ray node has ({have[key]:g} {key})")


def _quiet_ray() -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the old engine is silent at verbose=0
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a "host:port" nobody listens on: ray.init would retry for minutes."""
    import socket

    if address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address must be 'auto' or HOST:PORT (e.g. 10.0.0.5:6379), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"cannot reach a Ray cluster at {address}: {e.strerror or e} "
                          "(start one with `ray start --head` there)") from None


# ---------------------------------------------------------------------------------------
# Token authentication
# ---------------------------------------------------------------------------------------

def _authenticate(address: str) -> None:
    """Put this process in the authentication mode the cluster at ``address`` wants.

    Sets ``os.environ["RAY_AUTH_MODE"] = "token"`` (and refreshes Ray's cached config) when,
    and only when, the cluster rejects us without a token, the user has not chosen a mode,
    and Ray finds a token: that environment variable is the only place Ray's C++ client
    reads the mode from (``ray.init`` refuses it in ``_system_config``). It is what
    ``ray.init`` itself does for ``auto`` and for every new local cluster
    (``_enable_token_auth``), and it stays set for this process as it does there.
    """
    if address == "local" or "://" in address:
        return  # "local" starts a new cluster; ray:// is Ray Client, authenticated by its own server
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
        from ray._raylet import AuthenticationMode, get_authentication_mode
    except ImportError:
        return  # a Ray without token authentication (< 2.52): nothing to negotiate
    gcs = _gcs_address(address)
    if gcs is None:
        return  # "auto" found no cluster: ray.init says so in its own words
    if get_authentication_mode() == AuthenticationMode.TOKEN:
        # In token mode Ray's C++ client aborts the whole process (a failed RAY_CHECK in
        # authentication_token_loader.cc) on its first RPC if it has no token: check first.
        _require_token(f"{AUTH_MODE}=token is set")
    if not _rejected(gcs):
        return
    if get_authentication_mode() == AuthenticationMode.TOKEN:
        raise _wrong_token(address)
    if os.environ.get(AUTH_MODE) is not None:
        raise ConfigError(f"the Ray cluster at {address} requires token authentication but "
                          f"{AUTH_MODE}={os.environ[AUTH_MODE]} is set: set {AUTH_MODE}=token (or unset it)")
    _require_token(f"the Ray cluster at {address} requires token authentication")
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    if _rejected(gcs):
        raise _wrong_token(address)


def _gcs_address(address: str) -> str | None:
    """The GCS ``host:port`` that ``ray.init(address=address)`` would connect to.

    Ray's own resolution (``ray/_private/services.py``, ``canonicalize_bootstrap_address``):
    ``auto`` means ``RAY_ADDRESS``, else the local cluster ``ray start`` recorded last.
    """
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError):
        return None


def _require_token(why: str) -> None:
    """Raise a one-line ConfigError, starting with ``why``, unless Ray's token lookup finds a token."""
    from ray._raylet import AuthenticationTokenLoader
    from ray.exceptions import AuthenticationError

    loader = AuthenticationTokenLoader.instance()
    try:
        found = loader.has_token(ignore_auth_mode=True)
    except AuthenticationError as e:  # RAY_AUTH_TOKEN_PATH names a missing or empty file
        raise ConfigError(f"{why}: {e.message}") from None
    if not found:
        raise ConfigError(f"{why} and no token was found: "
                          f"put the cluster's token in {_default_token_path()}, or set RAY_AUTH_TOKEN=<token> or "
                          f"RAY_AUTH_TOKEN_PATH=<file> ({GET_TOKEN_HINT})")


def _rejected(gcs: str) -> bool:
    """True if the GCS at ``gcs`` refuses this process's credentials (one RPC, milliseconds).

    ``ray._raylet.GcsClient`` (as ``ray status`` uses it) fetches the cluster id on connect
    and raises ``AuthenticationError`` at once when the token is missing or wrong. Any other
    failure is left for ``ray.init`` to report as before. Its C++ side logs one warning
    line per failed attempt straight to file descriptor 2, which is silenced meanwhile.
    """
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    try:
        with _stderr_silenced():
            GcsClient(address=gcs)
    except AuthenticationError:
        return True
    except Exception:  # noqa: BLE001  (not an authentication failure: ray.init reports it)
        return False
    return False


def _wrong_token(address: str) -> ConfigError:
    return ConfigError(f"the Ray cluster at {address} rejected the token from {_token_source()}: "
                       f"put this cluster's token there ({GET_TOKEN_HINT})")


def _token_source() -> str:
    """Where Ray reads the token from, in its order of precedence (token-auth docs above)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH ({os.environ['RAY_AUTH_TOKEN_PATH']})"
    return str(_default_token_path())


def _default_token_path() -> Path:
    # ray/_private/authentication/authentication_token_setup.py: _get_default_token_path
    return Path.home() / ".ray" / "auth_token"


@contextlib.contextmanager
def _stderr_silenced():
    """Point file descriptor 2 at /dev/null for the block (C++ logging bypasses sys.stderr)."""
    import sys

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

