"""An EC2 instance's console output as host key evidence (the one boundary to AWS here).

``GetConsoleOutput`` with ``Latest=True`` returns the most recent 64 KB of the serial console on
Nitro instances (every GPU family plinth provisions: p4d, p5, g5, g6e, trn1 …); other instances get
the output buffered around their last state change, so the call is retried without ``Latest`` where
EC2 refuses it, and where the latest output no longer holds the host key block (asked for after
more than 64 KB of later output) the buffered output is read too. The API needs
``ec2:GetConsoleOutput`` on the instance. The text (base64 on the wire, decoded by botocore) is kept
to a bound, then parsed by :mod:`validators.hostkeys.console`. What is unproven without AWS:
that a real AL2023 EKS GPU node's console still holds the block when the validator first connects
(after 64 KB of later output — driver, EFA and kernel messages — it is gone from the latest output,
and once the buffered output has expired too the node is treated as unverifiable, not as verified).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from validators.hostkeys import HostKeyVerdict
from validators.hostkeys.console import FP_BEGIN, KEYS_BEGIN, judge_host_key, parse_console

MAX_OUTPUT_CHARS = 256 * 1024  # EC2 returns at most 64 KB; a longer answer keeps its tail
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()  # nodes connect in parallel; boto3 client creation is not thread-safe


class ConsoleUnavailable(Exception):
    """The console could not be read; ``str()`` says why (an AWS error code, never credentials)."""


class ConsoleReader(Protocol):
    def read(self, instance_id: str) -> str: ...


class Ec2Console:
    """Reads console output through a boto3 EC2 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _get(self, instance_id: str, latest: bool) -> tuple[str, bool]:
        """The output's text (its tail) and whether it is the latest output (False: the buffered)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_console_output(InstanceId=instance_id, **({"Latest": True} if latest else {}))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if latest and code in ("UnsupportedOperation", "InvalidParameterCombination", "InvalidParameterValue"):
                return self._get(instance_id, latest=False)  # not a Nitro instance: the buffered output
            raise ConsoleUnavailable(f"ec2:GetConsoleOutput failed ({code})") from None
        except BotoCoreError as exc:
            raise ConsoleUnavailable(f"ec2:GetConsoleOutput failed ({exc.__class__.__name__})") from None
        # botocore decodes the API's base64 itself (handlers.py, decode_console_output: UTF-8 with
        # replacement), so Output is text here; keep its tail, as EC2 does.
        text = answer.get("Output") or ""
        if not isinstance(text, str):
            raise ConsoleUnavailable("ec2:GetConsoleOutput answered without text")
        return text[-MAX_OUTPUT_CHARS:], latest

    def read(self, instance_id: str) -> str:
        text, latest = self._get(instance_id, latest=True)
        if latest and not _has_block(text):
            # The latest output is the console's last 64 KB now: on a GPU node the driver, EFA and
            # kernel messages after first boot can push cloud-init's block out of it. The buffered
            # output EC2 posted shortly after the instance started (kept at least an hour after its
            # last post; GetConsoleOutput API reference) may still hold it.
            try:
                buffered, _ = self._get(instance_id, latest=False)
            except ConsoleUnavailable:
                return text
            if _has_block(buffered):
                return buffered
        return text


def _has_block(text: str) -> bool:
    return KEYS_BEGIN in text or FP_BEGIN in text


def console_reader(region: str) -> ConsoleReader:
    """One EC2 client per region for the whole run (the usual credential chain; AWS_ENDPOINT_URL_EC2
    points it elsewhere, as boto3 documents), bounded timeouts, standard retries for throttling."""
    import boto3.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    with _clients_lock:
        client = _clients.get(region)
        if client is None:
            config = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
            try:
                client = _clients[region] = boto3.session.Session().client("ec2", region_name=region, config=config)
            except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
                raise ConsoleUnavailable(f"no EC2 client ({exc.__class__.__name__})") from None
    return Ec2Console(client)


class Ec2ConsoleEvidence:
    """Host key evidence for one instance: what it printed to its console at first boot. The EC2
    client is made on first use: a node whose key is already known never needs it."""

    def __init__(self, instance_id: str, region: str, reader: ConsoleReader | None = None) -> None:
        self.instance_id = instance_id
        self.region = region
        self.reader = reader

    def verify(self, key_type: str, key_blob: bytes) -> HostKeyVerdict:
        where = f"instance {self.instance_id}"
        try:
            self.reader = self.reader or console_reader(self.region)
            text = self.reader.read(self.instance_id)
        except ConsoleUnavailable as exc:
            return HostKeyVerdict("no-evidence", f"cannot read {where}'s console output: {exc}")
        return judge_host_key(key_type, key_blob, parse_console(text), where)
