"""The HTTP edge: wire schemas, thin route handlers and the error table."""
