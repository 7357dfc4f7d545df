"""Conversation flows: one small class per conversation goal (DESIGN §1)."""
