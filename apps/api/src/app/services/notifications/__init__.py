"""Notifications: tell an org's webhooks and e-mail recipients when unattended runs and schedules end.

outbox.py         the hooks: a run's end or a schedule's skipped / missed fire enqueues its event and
                  deliveries in the transaction that records it; the payload `{id, type, created_at,
                  org_id, data}` and its body
subscriptions.py  webhooks (secret shown once) and e-mail recipients per org; test pings; the delivery log
targets.py        which webhook URLs (httpx.URL, IDNA) and addresses may be sent to (no loopback, private, ...)
sealing.py        webhook secrets encrypted at rest (AES-GCM), under the configured or the stored key
signing.py        X-SellerCollection-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>">
webhook.py        one POST to the checked, resolved address, 10 s, the answer's first 1 KB kept
mail.py           one e-mail (plain text + HTML, the same facts) through SELLERCOLLECTION_SMTP_URL
retry.py          when a failed delivery is tried again (exponential, jittered, 8 tries within 24 h)
worker.py         DeliveryWorker: in every server process, claims due deliveries (SKIP LOCKED) and sends
"""
