"""`notification_outbox`: every minute, retry the notifications a channel has not taken yet."""

from __future__ import annotations

import dagster as dg

from pige_pipeline.lib.resources import NotifierResource, PigeResource


@dg.sensor(
    name="notification_outbox",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retries pending notifications (mail server down, webhook failing) until delivered.",
)
def notification_outbox(
    context: dg.SensorEvaluationContext, pige: PigeResource, notifier: NotifierResource
) -> dg.SkipReason:
    sender = notifier.notifier(pige.settings().data_root)
    attempted = sender.flush()
    sent = sum(1 for s in attempted if s.status == "sent")
    waiting = sender.outbox.pending_count()
    for state in attempted:
        if state.status != "sent":
            context.log.warning(f"notification {state.key} still pending: {state.last_error}")
    # The sensor launches no run: delivering is its whole job, and the skip reason shows what it did.
    return dg.SkipReason(f"retried {len(attempted)}, delivered {sent}, pending {waiting}")
