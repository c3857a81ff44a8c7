"""
Background jobs of the accounts app: the emails customers receive.

Jobs take ids and plain values, never tokens: each link's token is made when
the email is sent, so no secret waits in the job queue's table.
"""

from __future__ import annotations

# customers imports this module to enqueue these jobs; importing the module
# (not names from it) keeps the cycle harmless, as attributes are read at call time.
from merchantry.accounts import customers
from merchantry.core.jobs import job

__all__ = ["send_customer_email_verification", "send_customer_password_reset"]


@job()
def send_customer_password_reset(shop_id: int, email: str, base_url: str) -> None:
    """Email a password-reset link, if ``email`` is a registered customer of the shop."""
    customers.customer_password_reset_send(shop_id=shop_id, email=email, base_url=base_url)


@job()
def send_customer_email_verification(customer_id: int, base_url: str) -> None:
    """Email the link that verifies a customer's address, unless already verified."""
    customers.customer_email_verification_send(customer_id=customer_id, base_url=base_url)
