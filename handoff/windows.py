"""Themed windows (主题窗口): the counters of a service centre, and the unit staff work in.

A government service centre groups its counters by theme rather than by department: one 企业开办 window
takes every step of opening a company, one 不动产登记 window every property registration, and so on
(the "一窗受理" reform). The knowledge base files each service item under one of these windows
(`policy_kb.schema.WINDOWS`). Two more windows have no service items but do have staff: 惠企政策
(enterprise-policy consultation) and 办不成事反映 (the complaint window that takes unresolved matters).

Handoff tickets and cases are routed to a window; an agent sees only the windows on their account, while
supervisors and admins see all of them.
"""

from __future__ import annotations

from policy_kb.schema import WINDOWS

ALL_WINDOWS: tuple[str, ...] = (*WINDOWS, "惠企政策", "办不成事反映")
