"""Typed application keys: every shared resource of the app, named once."""

from aiohttp import web
from aiokafka import AIOKafkaProducer
from databases import Database
from redis.asyncio import Redis

from chatledger.accounts import Directory
from chatledger.config import Settings
from chatledger.projections.chat_rules import ChatRules
from chatledger.projections.history import HistoryReader
from chatledger.projections.presence import PresenceBoard

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
DIRECTORY = web.AppKey("directory", Directory)
REDIS = web.AppKey("redis", Redis)
HISTORY = web.AppKey("history", HistoryReader)
PRESENCE = web.AppKey("presence", PresenceBoard)
RULES = web.AppKey("rules", ChatRules)  # minimum tips, mutes, bans: kept by the feed
