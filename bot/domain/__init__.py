"""Pure domain: references, triage, checks and remedies. No Slack, Redis or HTTP here."""
