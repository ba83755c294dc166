"""Shared fixtures. Benchmarks are collected only with --benchmarks (`make bench`)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Role, User
from bugs.models import App

from .factories import AppFactory, MembershipFactory, UserFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", help="run tests/benchmarks (make bench)")


def pytest_ignore_collect(collection_path, config: pytest.Config) -> bool | None:  # type: ignore[no-untyped-def]
    if "benchmarks" in collection_path.parts and not config.getoption("--benchmarks"):
        return True
    return None


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Rate-limit counters live in the cache; every test starts with a fresh budget.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def member(db) -> Membership:  # type: ignore[no-untyped-def]
    """A plain member (triage only) of a new organization."""
    return MembershipFactory(role=Role.MEMBER)


@pytest.fixture
def owner(db) -> Membership:  # type: ignore[no-untyped-def]
    return MembershipFactory(role=Role.OWNER)


@pytest.fixture
def app(owner: Membership) -> App:
    return AppFactory(organization=owner.organization)


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(client: Client, owner: Membership) -> Client:
    return login(client, owner.user)


@pytest.fixture
def outsider(db) -> User:  # type: ignore[no-untyped-def]
    """Someone who belongs to another organization only."""
    return MembershipFactory(role=Role.OWNER).user


__all__ = ["UserFactory", "login"]
