"""Sending texts through an SMS provider, one module per responsibility: `segments` (how many
SMS segments a text takes), `provider` (Twilio's Messages API and the `log` provider), `ledger`
(forward-only states, provider events, what each error code does), `run` (the `valhalla send`
cron job), `events` (a status from the webhook or `send status`), `reconciling` (`send
reconcile`) and `report` (`send report`, the runbook checks `delivery` and `sender`, the status
figures)."""
