"""factory_boy factories for every model the tests create."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import Membership, Organization, Role, User
from bugs import services
from bugs.models import App, Attachment, BugReport, Comment, Platform


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"organization-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class AppFactory(factory.django.DjangoModelFactory):
    """An app made by the real service; its raw SDK token is kept as `app.test_token`."""

    class Meta:
        model = App

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    platform = Platform.IOS

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        app, token = services.app_create(**kwargs)
        app.test_token = token
        return app


class ReportFactory(factory.django.DjangoModelFactory):
    """Reports go through the service, so numbering and activity are the real ones."""

    class Meta:
        model = BugReport

    app = factory.SubFactory(AppFactory)
    title = factory.Faker("sentence", nb_words=6)
    description = factory.Faker("paragraph")
    os_name = "iOS"
    os_version = "18.1"
    app_version = "4.2.0"
    device_model = "iPhone 15"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        app = kwargs.pop("app")
        return services.report_create(app=app, fields=kwargs)


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    report = factory.SubFactory(ReportFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Faker("sentence")
    created_at = factory.LazyFunction(timezone.now)


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attachment

    report = factory.SubFactory(ReportFactory)
    kind = "log"
    file = factory.django.FileField(filename="console.txt", data=b"log line\n")
    original_name = "console.txt"
    content_type = "text/plain"
    size = 9
