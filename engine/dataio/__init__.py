"""Data in and out: import with mapping and dedupe, export, backup and restore."""
