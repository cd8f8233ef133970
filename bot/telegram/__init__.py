"""The Telegram channel (aiogram): updates in, outbox rows out."""
