"""Importers and exporters: spreadsheets edited by staff, and provincial catalogues."""
