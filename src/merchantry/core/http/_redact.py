"""Make URLs safe to log: no password, no secret-looking query values."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_HEADER_RE", "mask_url"]

MASK = "****"

# Query parameters whose value is a credential more often than not
# (``?api_key=``, ``?access_token=``, ``?X-Amz-Signature=``, ``?sig=``).
_SECRET_PARAM_RE = re.compile(
    r"key|token|secret|signature|sig$|password|passwd|pass$|auth|credential|session|code$",
    re.IGNORECASE,
)

# Header names that carry credentials; used to drop them on a redirect to
# another origin (httpx itself only drops ``Authorization``).
SECRET_HEADER_RE = re.compile(
    r"authorization|cookie|token|secret|api[-_]?key|signature|password|session|auth",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """
    Return ``url`` with its password and secret-looking query values replaced by ``****``.

    Use it wherever a whole URL must be shown (an error message, a delivery
    log); access logs carry only the host and path.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(name, MASK if _SECRET_PARAM_RE.search(name) else value) for name, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
