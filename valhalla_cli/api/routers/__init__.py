"""One router per pack (`routers/<pack>.py`), mounted from the pack registry. Each endpoint
parses, calls the service its CLI command calls, and answers what that command prints with
`--format json`."""
