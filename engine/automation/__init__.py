"""Automation: events, rules, workflows and approvals, SLA clocks, timers, schedules, jobs.

Everything here is driven by pack documents (``rules/``, ``workflows/``, ``sla/``,
``calendars/``) and their run-time overlays; no module-specific code. The data-access layer
emits an :class:`~engine.automation.events.Event` after every validated write, inside the
write's transaction; :class:`~engine.automation.runtime.Run` hands it to each component
(workflows, SLA, rules, webhooks). Synchronous actions write through the same transaction;
external effects go to the transactional outbox (``engine.automation.outbox``).
"""
