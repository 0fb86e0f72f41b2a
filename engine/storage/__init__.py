"""Storage: tables from metadata, schema evolution and the data-access layer."""
