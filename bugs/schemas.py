"""The SDK API's request and response shapes (the public contract, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema, field_validator

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Medium = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


def _scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("Must be a string, a number, true/false or null.")
    return value


# One check with one message, rather than pydantic's error per member of a union.
AttributeValue = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]


class ConsoleLogIn(BaseModel):
    timestamp: datetime = Field(description="When the line was logged (ISO 8601).")
    level: Literal["verbose", "debug", "info", "warning", "error"] = "info"
    message: str = Field(max_length=10_000)


class ReportIn(BaseModel):
    """A bug report or piece of feedback. Only `title` is required.

    Plain pydantic, not ninja's Schema: Schema wraps every nested object (each console line) in
    an ORM-friendly validator that costs ~8 times the validation itself on a typical report."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: str = Field("", max_length=50_000)
    reproduction_steps: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=100, description="Ordered steps, one string each."
    )
    reporter_email: str = Field("", max_length=254)
    reporter_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)] = ""
    device_model: Medium = Field("", examples=["iPhone 15 Pro"])
    os_name: Short = Field("", examples=["iOS"])
    os_version: Short = Field("", examples=["18.1"])
    app_version: Short = Field("", examples=["4.2.0"])
    app_build: Short = Field("", examples=["4200"])
    current_view: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    locale: Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)] = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    user_attributes: dict[Annotated[str, StringConstraints(max_length=100)], AttributeValue] = Field(
        default_factory=dict, description="Up to 100 keys; values are scalars."
    )
    console_logs: list[ConsoleLogIn] = Field(default_factory=list, max_length=1000)
    priority: Literal["na", "trivial", "minor", "major", "blocker"] = "na"

    @field_validator("reporter_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                raise ValueError("Enter a valid email address.") from None
        return value.lower()

    @field_validator("user_attributes")
    @classmethod
    def _attributes(cls, value: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
        if len(value) > 100:
            raise ValueError("At most 100 user attributes.")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # drop repeats, keep order


class ReportCreated(Schema):
    id: int
    number: int
    url: str = Field(description="The report's page in the dashboard.")


class AttachmentOut(Schema):
    id: int
    name: str
    kind: str
    content_type: str
    size: int


class AttachmentsCreated(Schema):
    attachments: list[AttachmentOut]


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    error: ErrorDetail
