"""What both Telegram runtimes share, over the Bot API's JSON (no client library).

`routing` (raw update to routing facts), `translate` (raw update to `Event`), `delivery`
(outbox row to Bot API calls over the `TelegramOps` protocol each runtime implements),
`errors` (neutral errors and their classification), `commands` (the command menu),
`polling` (the long-polling receiver over raw HTTP), `channel` (the channel base the
runtimes subclass).
"""
