"""Everything that knows HTTP, apart from the routers; only `app.routers` and `app.main` import it.

- The server's state and how handlers reach it: `state` (ServerState, built once by the
  lifespan), `deps` (every FastAPI dependency).
- Errors and the contract: `errors` (every error as `{"detail": ...}`), `openapi` (the document).
- Middleware: `security_headers` (outermost), `body_limit`, `stream_cors`.
- Responses: `download` (streamed downloads), `event_stream` (the activity feed's SSE response).
- Admission control: `signin_throttle`, `stream_guard`, `export_slots`.
"""
