"""Adapters: each is the only importer of its library (ami: panoramisk, db: asyncpg, http: aiohttp)."""
