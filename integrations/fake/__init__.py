"""A real, small helpdesk for the demo and tests: in memory, or behind a loopback HTTP server."""
