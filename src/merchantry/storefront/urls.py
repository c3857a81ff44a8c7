"""Storefront URLs (the shop comes from the request host)."""

from django.urls import path

from merchantry.storefront import account, views

urlpatterns = [
    path("", views.home, name="storefront-home"),
    path("account/", account.account_home, name="storefront-account"),
    path("account/sign-in", account.sign_in, name="storefront-sign-in"),
    path("account/sign-out", account.sign_out, name="storefront-sign-out"),
    path("account/register", account.register, name="storefront-register"),
    path("account/reset/request", account.password_reset_request, name="storefront-reset-request"),
    path("account/reset", account.password_reset, name="storefront-reset"),
    path("account/verify-email", account.verify_email, name="storefront-verify-email"),
]
