"""The HTTP service: the API, the hospitals' reply path, and (later) the console and the portal."""
