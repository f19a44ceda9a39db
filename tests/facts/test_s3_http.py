"""The facts store's S3 read path (validators/facts/s3_http.py): the route botocore itself chose, SigV4
signatures S3 accepts (moto checking every signature against its IAM, as S3 does), the same listing and
bytes as boto3, keys S3 allows but a node name does not, and connections kept alive and reused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import boto3
import boto3.session
import pytest
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.moto import MotoUnavailable, moto_server
from validators.facts import envelope, s3_http
from validators.facts.s3_http import NotFound, Route, S3Http, S3HttpError, route_from_request
from validators.facts.store import Missing, S3Store

KEY = "plinth-runs/r1/run.json"


class _Body:
    def stream(self) -> Iterator[bytes]:
        yield b"<Error><Code>NoSuchKey</Code></Error>"


def botocore_route(monkeypatch: pytest.MonkeyPatch, endpoint: str | None, key: str = KEY, **config: Any) -> Route | None:
    """The route of the GetObject that botocore prepares for ``key`` (answered locally, nothing sent)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.session.Session(region_name="eu-west-1").client("s3", endpoint_url=endpoint, config=Config(**config))
    seen: list[Route | None] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        seen.append(route_from_request(request.url, request.headers, key))
        return AWSResponse(request.url, 404, {}, _Body())

    client.meta.events.register("before-send.s3.GetObject", answer)
    with pytest.raises(client.exceptions.ClientError):
        client.get_object(Bucket="acme-lake-raw", Key=key)
    return seen[-1]


@pytest.mark.parametrize(("endpoint", "config", "route"), [
    # AWS: virtual-host style in the bucket's region (what S3 documents as the default)
    (None, {}, Route("https://acme-lake-raw.s3.eu-west-1.amazonaws.com", "eu-west-1")),
    (None, {"use_fips_endpoint": True}, Route("https://acme-lake-raw.s3-fips.eu-west-1.amazonaws.com", "eu-west-1")),
    (None, {"s3": {"addressing_style": "path"}}, Route("https://s3.eu-west-1.amazonaws.com/acme-lake-raw", "eu-west-1")),
    # an S3 API by IP (moto, MinIO on a node): path style
    ("http://127.0.0.1:9000", {}, Route("http://127.0.0.1:9000/acme-lake-raw", "eu-west-1")),
])
def test_the_route_is_the_one_botocore_sends(monkeypatch: pytest.MonkeyPatch, endpoint: str | None,
                                             config: dict[str, Any], route: Route) -> None:
    assert botocore_route(monkeypatch, endpoint, **config) == route


def test_a_key_with_characters_that_need_quoting_still_gives_the_route(monkeypatch: pytest.MonkeyPatch) -> None:
    assert botocore_route(monkeypatch, None, key="runs/a b+c~d/run.json") == Route(
        "https://acme-lake-raw.s3.eu-west-1.amazonaws.com", "eu-west-1")


@pytest.mark.parametrize("headers", [
    {},  # unsigned client
    {"Authorization": "AWS4-ECDSA-P256-SHA256 Credential=AKID/20250601/s3/aws4_request, SignedHeaders=host, Signature=0"},  # SigV4a
    {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/s3express/aws4_request, SignedHeaders=host, "
                      "Signature=0", "x-amz-s3session-token": "t"},  # S3 Express session
])
def test_requests_that_are_not_plain_sigv4_keep_the_boto3_path(headers: dict[str, str]) -> None:
    assert route_from_request(f"https://b.s3.us-east-1.amazonaws.com/{KEY}", headers, KEY) is None


# -- against moto, which checks every signature once its first unauthenticated actions are spent ------

SETUP_ACTIONS = 4  # CreateUser, CreateAccessKey, PutUserPolicy, CreateBucket


@pytest.fixture(scope="module")
def signed_moto() -> Iterator[tuple[str, dict[str, str]]]:
    try:
        with moto_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)}) as url:
            anon = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "setup",
                    "aws_secret_access_key": "setup"}
            iam = boto3.client("iam", **anon)
            iam.create_user(UserName="plinth-reader")
            key = iam.create_access_key(UserName="plinth-reader")["AccessKey"]
            iam.put_user_policy(UserName="plinth-reader", PolicyName="facts", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            boto3.client("s3", **anon).create_bucket(Bucket="acme-lake-raw")
            yield url, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": url}
    except MotoUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def run_in_moto(signed_moto: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, bytes]:
    """A run whose objects include keys S3 allows but a node name does not (judged as ignored)."""
    for k, v in {**signed_moto[1], "AWS_CONFIG_FILE": str(tmp_path / "none"),
                 "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(k, v)
    store = S3Store("s3://acme-lake-raw/plinth-runs/r1")
    store.put_manifest(envelope.manifest_bytes("r1", expected_nodes=["gpu-0"]))
    objects = {f"gpu-{i}.json": envelope.build(f"gpu-{i}", "r1", facts=None, error="probe failed", verdict="error",
                                               plinth_version="t") for i in range(3)}
    objects |= {"a b+c.json": b"{}", "ünï.json": b"{}", "../../evil.json": b"{}", "big.json": b"x" * 5000}
    for name, data in objects.items():
        store.put(name, data)
    return objects


def test_lean_reads_are_signed_as_s3_checks_and_match_boto3(run_in_moto: dict[str, bytes]) -> None:
    lean, boto = S3Store("s3://acme-lake-raw/plinth-runs/r1"), S3Store("s3://acme-lake-raw/plinth-runs/r1", lean=False)
    manifest = lean.get_manifest(envelope.MAX_MANIFEST_BYTES)
    assert manifest is not None and manifest == boto.get_manifest(envelope.MAX_MANIFEST_BYTES)
    assert lean.read_path.startswith("signed HTTP/1.1 keep-alive pool to http://127.0.0.1:")
    assert boto.read_path == "boto3 (lean=False)"
    listed = sorted(lean.list(), key=lambda o: o.name)
    assert [(o.name, o.size, o.written) for o in listed] == [(o.name, o.size, o.written) for o in sorted(boto.list(), key=lambda o: o.name)]
    assert {o.name for o in listed} == set(run_in_moto)  # every key S3 holds, decoded exactly as botocore does
    for name, data in run_in_moto.items():
        assert lean.get(name, 100_000) == data, name
    assert lean.get("big.json", 1000) == b"x" * 1001  # bounded: limit + 1 tells the caller it is too big
    assert lean.get("gpu-1.json", 100_000) == run_in_moto["gpu-1.json"]  # the pool still works after that
    with pytest.raises(Missing):
        lean.get("gpu-9.json", 1000)


def test_a_wrong_secret_is_refused_by_the_signature_check(run_in_moto: dict[str, bytes], signed_moto: tuple[str, dict[str, str]]) -> None:
    env = signed_moto[1]
    route = Route(f"{signed_moto[0]}/acme-lake-raw", "us-east-1")
    good = S3Http(route, Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]), pool_size=2, verify=True)
    assert good.get("plinth-runs/r1/nodes/gpu-0.json", 100_000)[0] == run_in_moto["gpu-0.json"]
    bad = S3Http(route, Credentials(env["AWS_ACCESS_KEY_ID"], "not-the-secret"), pool_size=2, verify=True)
    with pytest.raises(S3HttpError, match="HTTP 403 SignatureDoesNotMatch"):
        bad.get("plinth-runs/r1/nodes/gpu-0.json", 100_000)
    with pytest.raises(S3HttpError, match="HTTP 403 SignatureDoesNotMatch"):
        list(bad.list("plinth-runs/r1/nodes/"))


# -- connection handling against a plain HTTP/1.1 server that keeps connections open, as S3 does -----


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    answers: list[int]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        cast(_Server, self.server).connections += 1

    def do_GET(self) -> None:
        answers = cast(_Server, self.server).answers
        status = answers.pop(0) if answers else 200
        body = {200: b"x" * (20_000 if "big" in self.path else 100), 404: b"<Error><Code>NoSuchKey</Code></Error>",
                503: b"<Error><Code>SlowDown</Code><Message>Please\nreduce your request rate.</Message></Error>"}[status]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", "Sun, 01 Jun 2025 10:00:03 GMT")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def keepalive_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.answers = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_connections_are_kept_alive_and_a_half_read_one_is_not_reused(keepalive_server: _Server) -> None:
    http = S3Http(Route(f"http://127.0.0.1:{keepalive_server.server_address[1]}/b", "us-east-1"),
                  Credentials("AKID", "secret"), pool_size=4, verify=True)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: http.get(f"nodes/n{i}.json", 1000)[0], range(200)))
    assert all(len(b) == 100 for b in got)
    assert keepalive_server.connections <= 4  # 200 GETs, at most one connection per pool slot
    before = keepalive_server.connections
    assert len(http.get("nodes/big.json", 1000)[0]) == 1001
    http.get("nodes/n0.json", 1000)
    http.get("nodes/n0.json", 1000)
    assert keepalive_server.connections == before + 1  # the half-read connection was closed, its successor kept


def test_a_pool_of_one_survives_oversize_objects(keepalive_server: _Server) -> None:
    """Each oversize read closes its connection; the slot must still go back to the pool, else the
    next GET waits for a connection forever."""
    http = S3Http(Route(f"http://127.0.0.1:{keepalive_server.server_address[1]}/b", "us-east-1"),
                  Credentials("AKID", "secret"), pool_size=1, verify=True)
    with ThreadPoolExecutor(1) as pool:
        sizes = pool.submit(lambda: [len(http.get(k, 1000)[0]) for k in ("big1", "big2", "big3", "n1")]).result(timeout=20)
    assert sizes == [1001, 1001, 1001, 100]


def test_throttling_is_retried_and_errors_name_the_s3_code(keepalive_server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_http.random, "random", lambda: 0.0)  # no wait: the delays are test_backoff_…'s
    http = S3Http(Route(f"http://127.0.0.1:{keepalive_server.server_address[1]}/b", "us-east-1"),
                  Credentials("AKID", "secret"), pool_size=2, verify=True)
    keepalive_server.answers = [503]
    data, modified = http.get("nodes/n1.json", 1000)
    assert len(data) == 100 and modified is not None and modified.isoformat() == "2025-06-01T10:00:03+00:00"
    keepalive_server.answers = [503, 503, 503]
    with pytest.raises(S3HttpError, match=r"^HTTP 503 SlowDown: Please reduce your request rate\.$"):
        http.get("nodes/n1.json", 1000)
    keepalive_server.answers = [404]
    with pytest.raises(NotFound):
        http.get("nodes/n1.json", 1000)


def test_backoff_is_botocore_standard_modes_longer_after_slowdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each retry ``rand(0, 1) * min(base * 2**i, 20)``, base 1 s after 503 SlowDown or 429,
    50 ms after other errors (botocore/retries/standard.py). urllib3's own formula retried the
    first SlowDown at once and the second 0.1 s later: the whole thread pool back at S3 in lock step."""
    monkeypatch.setattr(s3_http.random, "random", lambda: 1.0)  # the upper bound of each delay
    http = S3Http(Route("http://127.0.0.1:9/b", "us-east-1"), Credentials("AKID", "secret"), pool_size=1,
                  verify=True, attempts=8)

    def delays(statuses: list[int]) -> list[float]:
        retry, out = http._retries, []
        for status in statuses:
            retry = retry.increment("GET", "/b/k", response=urllib3.HTTPResponse(status=status))
            out.append(retry.get_backoff_time())
        return out

    assert delays([503, 503, 503]) == [1.0, 2.0, 4.0]
    assert delays([429]) == [1.0]
    assert delays([500, 500]) == [0.05, 0.1]
    assert delays([503] * 7)[-1] == 20.0  # capped
    monkeypatch.setattr(s3_http.random, "random", lambda: 0.25)
    assert delays([503]) == [0.25]  # jittered, not the same delay in every thread
