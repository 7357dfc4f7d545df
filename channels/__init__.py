"""Channels: one module per channel; each turns its wire format into Inbound and renders Reply."""
