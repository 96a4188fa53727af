"""The HTTP API (`valhalla serve`): a second face over the same services as the CLI.

Needs the optional extra `valhalla-cli[api]` (FastAPI and uvicorn). Nothing here is imported by
`valhalla --help`.
"""
