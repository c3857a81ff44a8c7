"""
Cross-cutting machinery every domain app uses: errors, logging, request
context, audit trail, feature flags, background jobs and health checks.

Nothing here imports a domain app, the API assembly or an integration; the
rule is an import-linter contract checked by ``make test``.
"""
