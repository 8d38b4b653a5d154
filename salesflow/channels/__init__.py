"""Channels: one adapter module per provider (WhatsApp Cloud API, inbound email, generic JSON).

Each adapter verifies a webhook on its raw bytes, splits it into events the inbox stores verbatim,
normalises a stored event into the product's message (in the worker), sends outbound messages and
maps delivery statuses. Adding a channel is one module exporting an adapter; see base.py.
"""
