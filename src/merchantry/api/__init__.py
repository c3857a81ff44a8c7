"""
The JSON APIs: every app's routers assembled under versioned prefixes.

``v1`` is mounted at ``/api/v1/``. A breaking change adds a ``v2`` module
built the same way (``build_api(version="2")``) and mounts it beside v1,
which keeps working.
"""
