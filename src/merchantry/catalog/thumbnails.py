"""Placeholder until the media branch lands (replaced by it)."""

from django.conf import settings


def thumbnail_url(image_name: str, size: int) -> str:
    return f"{settings.MEDIA_URL}thumbs/{size}/{image_name}.webp"
