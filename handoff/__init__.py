"""Handoff to people: 办不成事 cases, 转人工 tickets, the working-day calendar, SLA and the staff console."""
