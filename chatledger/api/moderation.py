"""DESIGN §9's model tools: the minimum tip, mute, ban and unban, and deleting a message.

Each is a command endpoint like the others (`commands.command_endpoint`: 201 once on Kafka, the
ledger decides). What the API can tell at once it refuses with the decider's own rules: who may
(`refusal`: the model only, 403), a target that is a client and a ban or unban that changes
something (`moderation_refusal`, asked of the process's ChatRules), a message the caller may
delete (`deletion_refusal`, on the message read by the ledger's own loader).
"""

from aiohttp import web

from chatledger.api.command_routes import command_endpoint, rejected_by, rules_of
from chatledger.api.extras import extras_settings
from chatledger.api.schemas import ClientBody, DeletionBody, MuteBody, SettingsBody
from chatledger.domain.commands import (
    BanViewer,
    ChangeSettings,
    ChatCommand,
    DeleteMessage,
    Moderation,
    MuteViewer,
    UnbanViewer,
)
from chatledger.domain.decider import deletion_refusal
from chatledger.ledger import extras_store
from chatledger.ledger.state_loader import StateLoader
from chatledger.web.auth import Principal
from chatledger.web.keys import DATABASE, DIRECTORY


async def build_settings(
    request: web.Request, principal: Principal, command_id: str, body: SettingsBody
) -> ChatCommand:
    return ChangeSettings(command_id, principal.chat, principal.person.as_actor(),
                          body.min_donation, body.private_rate, body.spy_rate,
                          *extras_settings(body))


async def build_mute(
    request: web.Request, principal: Principal, command_id: str, body: MuteBody
) -> ChatCommand:
    return MuteViewer(command_id, principal.chat, principal.person.as_actor(), body.client,
                      body.seconds)


async def build_ban(
    request: web.Request, principal: Principal, command_id: str, body: ClientBody
) -> ChatCommand:
    return BanViewer(command_id, principal.chat, principal.person.as_actor(), body.client)


async def build_unban(
    request: web.Request, principal: Principal, command_id: str, body: ClientBody
) -> ChatCommand:
    return UnbanViewer(command_id, principal.chat, principal.person.as_actor(), body.client)


async def moderation_allowed(request: web.Request, command: Moderation) -> None:
    """A client's account (looked up), and for a ban or unban, not already so (the rules)."""
    target = await request.app[DIRECTORY].find(command.client)
    refused = (await rules_of(request)).moderation(command, target.role if target else None)
    if refused is not None:
        raise rejected_by(refused)


async def build_deletion(
    request: web.Request, principal: Principal, command_id: str, body: DeletionBody
) -> ChatCommand:
    return DeleteMessage(command_id, principal.chat, principal.person.as_actor(), body.id)


async def deletion_allowed(request: web.Request, command: DeleteMessage) -> None:
    """The message read by the ledger's own loader (one MySQL read: deletions are rare)."""
    async with request.app[DATABASE].connection() as connection, \
            connection.raw_connection.cursor() as cur:
        loader = StateLoader(cur)
        await loader.messages([command])
        await extras_store.load_pins(cur, loader.state, [command.chat])  # a pin's id too
    refused = deletion_refusal(loader.state, command)
    if refused is not None:
        raise rejected_by(refused)


post_settings = command_endpoint(SettingsBody, build_settings)
post_mute = command_endpoint(MuteBody, build_mute, moderation_allowed)
post_ban = command_endpoint(ClientBody, build_ban, moderation_allowed)
post_unban = command_endpoint(ClientBody, build_unban, moderation_allowed)
post_deletion = command_endpoint(DeletionBody, build_deletion, deletion_allowed)
