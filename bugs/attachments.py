"""What an attachment may be: the allowed types, their kinds, and how each is checked."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, UnidentifiedImageError

from .errors import AttachmentRejected
from .models import AttachmentKind


@dataclass(frozen=True)
class AllowedType:
    kind: str
    verify_image: bool = False


# Declared content type → what it is. Anything else is a 415. SVG and HTML are deliberately
# absent: served back inline they could run script in our origin.
ALLOWED_TYPES: dict[str, AllowedType] = {
    "image/png": AllowedType(AttachmentKind.SCREENSHOT, verify_image=True),
    "image/jpeg": AllowedType(AttachmentKind.SCREENSHOT, verify_image=True),
    "image/gif": AllowedType(AttachmentKind.SCREENSHOT, verify_image=True),
    "image/webp": AllowedType(AttachmentKind.SCREENSHOT, verify_image=True),
    "image/heic": AllowedType(AttachmentKind.SCREENSHOT),
    "video/mp4": AllowedType(AttachmentKind.RECORDING),
    "video/quicktime": AllowedType(AttachmentKind.RECORDING),
    "video/webm": AllowedType(AttachmentKind.RECORDING),
    "text/plain": AllowedType(AttachmentKind.LOG),
    "application/json": AllowedType(AttachmentKind.LOG),
    "application/x-ndjson": AllowedType(AttachmentKind.LOG),
    "application/gzip": AllowedType(AttachmentKind.LOG),
    "application/zip": AllowedType(AttachmentKind.LOG),
}


def attachment_check(upload: UploadedFile) -> AllowedType:
    """The file's allowed type, or AttachmentRejected (413 too large, 415 wrong type)."""
    name = upload.name or "file"
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise AttachmentRejected(
            f"{name} is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}.",
            status=413,
        )
    if upload.size == 0:
        raise AttachmentRejected(f"{name} is empty.", status=400)
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    allowed = ALLOWED_TYPES.get(content_type)
    if allowed is None:
        accepted = ", ".join(sorted(ALLOWED_TYPES))
        raise AttachmentRejected(
            f"{name} has type {content_type or 'unknown'}; accepted types are {accepted}.",
            status=415,
        )
    if allowed.verify_image:
        try:
            with Image.open(upload) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise AttachmentRejected(
                f"{name} says it is {content_type} but is not a readable image.", status=415
            ) from None
        finally:
            upload.seek(0)
    return allowed
