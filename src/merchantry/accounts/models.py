"""
Staff user accounts, signed in by email.

A custom user model from the first migration, because Django cannot switch
``AUTH_USER_MODEL`` once tables exist. Shop memberships and roles attach to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password, is_password_usable, make_password
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from merchantry.core.validators import validate_country
from merchantry.tenancy.models import ShopScopedQuerySet
from merchantry.tenancy.permissions import BUILTIN_ROLES, expand


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).strip(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who works in one or more shops, or runs the installation."""

    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Whether the user may sign in to the admin."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ("email",)
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class RoleQuerySet(models.QuerySet):
    def available_to(self, shop: Any) -> RoleQuerySet:
        """Built-in roles and the shop's own custom roles."""
        return self.filter(models.Q(shop__isnull=True) | models.Q(shop=shop))


class Role(models.Model):
    """
    A named set of permissions. Built-in roles (``shop`` empty) exist in every
    shop and take their permissions from code; shops add custom roles.
    """

    shop = models.ForeignKey(
        "tenancy.Shop", on_delete=models.CASCADE, null=True, blank=True, related_name="roles"
    )
    key = models.SlugField(max_length=50)
    name = models.CharField(max_length=80)
    permissions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("key",),
                condition=models.Q(shop__isnull=True),
                name="role_builtin_key_unique",
            ),
            models.UniqueConstraint(
                fields=("shop", "key"),
                condition=models.Q(shop__isnull=False),
                name="role_key_unique_per_shop",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.shop_id is None

    def effective_permissions(self) -> frozenset[str]:
        if self.is_builtin and self.key in BUILTIN_ROLES:
            return BUILTIN_ROLES[self.key][1]
        return expand(self.permissions)


class Membership(models.Model):
    """A staff user's role in one shop. One person may work for several shops."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    shop = models.ForeignKey("tenancy.Shop", on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("shop_id", "user_id")
        constraints = [
            models.UniqueConstraint(fields=("user", "shop"), name="membership_unique_user_shop"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.shop_id} as {self.role}"


class CustomerQuerySet(ShopScopedQuerySet):
    def registered(self) -> CustomerQuerySet:
        return self.filter(is_registered=True)

    def with_email(self, email: str) -> CustomerQuerySet:
        return self.filter(email__iexact=email.strip())


class Customer(models.Model):
    """
    A shopper of one shop. The same email in two shops is two customers.

    A guest (``is_registered`` false) has only an email, from a guest
    checkout; registering with that email later turns the guest into an
    account and keeps its history.
    """

    shop = models.ForeignKey("tenancy.Shop", on_delete=models.CASCADE, related_name="customers")
    email = models.EmailField(max_length=254)
    password = models.CharField(max_length=128, blank=True)
    full_name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_registered = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    accepts_marketing = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    last_login = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "email")
        constraints = [
            models.UniqueConstraint("shop", Lower("email"), name="customer_email_unique_per_shop"),
        ]

    def __str__(self) -> str:
        return self.email

    # The password-reset token generator reads these, as it does on User.
    def get_email_field_name(self) -> str:
        return "email"

    def set_password(self, raw_password: str | None) -> None:
        self.password = make_password(raw_password)

    def check_password(self, raw_password: str) -> bool:
        def upgrade(raw: str) -> None:
            self.set_password(raw)
            type(self).objects.filter(pk=self.pk).update(password=self.password)

        return bool(self.password) and check_password(raw_password, self.password, upgrade)

    @property
    def has_usable_password(self) -> bool:
        return is_password_usable(self.password) and bool(self.password)


class CustomerAddress(models.Model):
    """An address a customer saved for checkout."""

    shop = models.ForeignKey("tenancy.Shop", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=150, blank=True)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, validators=[validate_country])
    subdivision = models.CharField(max_length=10, blank=True, help_text="ISO 3166-2, e.g. US-CA")
    phone = models.CharField(max_length=32, blank=True)
    is_default_shipping = models.BooleanField(default=False)
    is_default_billing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("customer_id", "-is_default_shipping", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("customer",),
                condition=models.Q(is_default_shipping=True),
                name="address_one_default_shipping",
            ),
            models.UniqueConstraint(
                fields=("customer",),
                condition=models.Q(is_default_billing=True),
                name="address_one_default_billing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line1}, {self.city}, {self.country}"


class CustomerTokenQuerySet(ShopScopedQuerySet):
    def live(self) -> CustomerTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class CustomerToken(models.Model):
    """A signed-in customer's bearer token for the Store API (stored hashed)."""

    shop = models.ForeignKey("tenancy.Shop", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=24)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerTokenQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}…"
