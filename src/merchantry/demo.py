"""
The demo shop that ``make run`` seeds, so a new installation has something to
sign in to. Idempotent: running it again changes nothing and reveals nothing.
"""

from __future__ import annotations

from merchantry.accounts.services import superuser_ensure

__all__ = ["DEMO_STAFF_EMAIL", "seed_demo"]

DEMO_STAFF_EMAIL = "admin@demo.merchantry.test"


def seed_demo() -> list[str]:
    """Create the demo data that is missing; return lines to show the user."""
    lines = []
    staff = superuser_ensure(email=DEMO_STAFF_EMAIL, full_name="Demo Admin")
    if staff.created:
        lines += [
            "Demo staff account created (the password is shown only this once):",
            f"    email     {staff.user.email}",
            f"    password  {staff.password}",
        ]
    else:
        lines += [
            f"Demo staff account {staff.user.email} already exists; its password was shown "
            "when it was created.",
            f"    To set a new one: merchantry changepassword {staff.user.email}",
        ]
    return lines
