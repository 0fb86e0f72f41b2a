"""Metadata: pack discovery, document loading with positions, schema validation, definitions."""
