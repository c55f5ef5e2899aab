"""Typed application keys: every shared resource of the app, named once."""

from aiohttp import web
from aiokafka import AIOKafkaProducer
from databases import Database
from redis.asyncio import Redis

from chatledger.history.reader import HistoryReader
from chatledger.ledger.accounts import Directory
from chatledger.platform.config import Settings
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.readmodels.presence_board import PresenceBoard

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
DIRECTORY = web.AppKey("directory", Directory)
REDIS = web.AppKey("redis", Redis)
HISTORY = web.AppKey("history", HistoryReader)
PRESENCE = web.AppKey("presence", PresenceBoard)
RULES = web.AppKey("rules", ChatRules)  # minimum tips, mutes, bans: kept by the feed
