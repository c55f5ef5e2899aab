"""aiokafka under uvloop: a request written to a connection that is already closed.

aiokafka's `AIOKafkaConnection.send` turns an OSError from its write into KafkaConnectionError
(closing the connection), which aiokafka's own routines and every caller here handle as "the
broker is away, try again". uvloop raises RuntimeError there instead ("the handler is closed";
asyncio's transports let the write pass and the read loop reports the close),
aio-libs/aiokafka#1038, open. It happens when the broker goes away between uvloop closing the
socket and aiokafka's read loop noticing, and the RuntimeError then escaped from whatever call
was sending: in a nemesis run a ledger process died of a broker restart, from its topic watch's
metadata request (bus/topics.py); aiokafka's group coordinator sends the same way.

`install()` (bus/kafka.py, which every Kafka client of the service comes through) makes that
RuntimeError the KafkaConnectionError aiokafka raises for a broken connection, for a closed
transport only: any other RuntimeError is raised as it was.
"""

from typing import Any

from aiokafka import conn
from aiokafka.errors import KafkaConnectionError

_send = conn.AIOKafkaConnection.send


def _closed(connection: Any) -> bool:
    writer = connection._writer
    return writer is None or bool(writer.transport.is_closing())


def send(self: Any, request: Any, expect_response: bool = True) -> Any:
    try:
        return _send(self, request, expect_response)
    except RuntimeError as exc:
        if not _closed(self):
            raise
        self.close(reason=conn.CloseReason.CONNECTION_BROKEN)
        raise KafkaConnectionError(
            f"Connection at {self.host}:{self.port} broken: {exc}") from exc


def install() -> None:
    conn.AIOKafkaConnection.send = send
