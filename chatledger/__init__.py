"""chatledger: a live-stream chat with money, event-sourced on MySQL, Kafka and Redis.

The packages are layers; each may import only the layers listed before it (enforced by
`tests/unit/test_layers.py`, `from chatledger import x` included):

    platform/    config, MySQL and Redis access, logs, metrics, retries, tasks, listeners, workers
    domain/      pure rules: commands, events, state, `evolve`, the decider, visibility, wire form
    bus/         Kafka: topics, producer and consumer helpers, the commands' byte form, healing
    ledger/      the writer: the worker, the MySQL store, event rows, projection rows, accounts
    readmodels/  what is read back from MySQL: replay, rebuild, audit, the rules cache, presence
    history/     the Redis mirror of the last ten minutes: mirror, projector, reader, rebuild
    web/         what both public roles share: app keys, JWT auth, error bodies, probes, access log
    api/         the HTTP API: the route table, one module per resource, rate limits, OpenAPI
    gateway/     the websocket gateway: rooms, the event feed, sockets, presence ticks
    service.py   the composition root: one aiohttp app with the roles a process runs
    cli/         `chatledger ...`: migrate, serve, accounts, money, refund, rebuild, audit

`domain/` does no I/O and imports nothing of chatledger but itself; `api/` and `gateway/` are
peers and never import each other.
"""
