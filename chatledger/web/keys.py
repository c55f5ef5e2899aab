"""Typed application keys: every shared resource of the app, named once."""

from aiohttp import web
from aiokafka import AIOKafkaProducer
from databases import Database

from chatledger.bus.batched_send import BatchedSender
from chatledger.history.reader import HistoryReader
from chatledger.ledger.accounts import Directory
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import AnyRedis
from chatledger.platform.replica import ReplicaReads
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.readmodels.presence_board import PresenceBoard

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)  # the primary
READS = web.AppKey("reads", ReplicaReads)  # what tolerates lag: the replica when healthy
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
COMMANDS = web.AppKey("commands", BatchedSender)  # the API's commands, to the commands topic
DIRECTORY = web.AppKey("directory", Directory)
REDIS: web.AppKey[AnyRedis] = web.AppKey("redis")  # one server, or a cluster (DESIGN §12)
HISTORY = web.AppKey("history", HistoryReader)
PRESENCE = web.AppKey("presence", PresenceBoard)
RULES = web.AppKey("rules", ChatRules)  # minimum tips, mutes, bans: kept by the feed
