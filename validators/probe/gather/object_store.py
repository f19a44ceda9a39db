"""Object-store reachability: TCP connect time and an HTTP(S) HEAD round trip to the endpoint."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

SECTION = "object_store"
DEFAULT = None


def _median_ms(samples: List[float]) -> Optional[float]:
    if not samples:
        return None
    ordered, mid = sorted(samples), len(samples) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(median * 1000, 3)


def gather(opts: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """TCP connect time and HTTP(S) HEAD round trip to the endpoint (median of 3 each). Any HTTP
    answer (403 from S3 without credentials included) means reachable."""
    endpoint = opts.get("object_store_endpoint")
    if not endpoint:
        return None
    # imported here: a probe without an endpoint (most runs) doesn't pay for ssl (~5 ms)
    import http.client
    import socket
    import ssl
    from urllib.parse import urlsplit

    timeout = min(float(opts["step_timeout_s"]), 10.0)
    url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    https = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if https else 80)
    result: Dict[str, Any] = {"endpoint": endpoint, "reachable": False, "connect_ms": None, "latency_ms": None,
              "http_status": None, "error": None}
    connects = []
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            sock = socket.create_connection((host, port), timeout=timeout)
            connects.append(time.perf_counter() - t0)
            sock.close()
        result["connect_ms"] = _median_ms(connects)
        if https:
            conn: Any = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        heads = []
        try:
            conn.connect()  # handshake outside the timed requests: latency is one request's round trip
            for _ in range(3):
                t0 = time.perf_counter()
                conn.request("HEAD", url.path or "/", headers={"User-Agent": "plinth-probe"})
                resp = conn.getresponse()
                resp.read()
                heads.append(time.perf_counter() - t0)
                result["http_status"] = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn.connect()
        finally:
            conn.close()
        result.update(reachable=True, latency_ms=_median_ms(heads))
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        stage = "HTTP HEAD" if len(connects) == 3 else "TCP connect"
        result["error"] = f"{stage} to {host}:{port} failed: {exc.__class__.__name__}: {exc}"
    return result


# ------------------------------------------------------------------------------------------
