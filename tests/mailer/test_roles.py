"""Roles: each may do what the roles below it may, and no more."""

from __future__ import annotations

import pytest

from mailer.roles import Permission, Role, allows, parse_role


@pytest.mark.parametrize(
    ("role", "may"),
    [
        (Role.VIEWER, set()),
        (Role.EDITOR, {Permission.COMPOSE}),
        (Role.APPROVER, {Permission.COMPOSE, Permission.SEND, Permission.READERS}),
        (Role.OWNER, set(Permission)),
    ],
)
def test_each_role_has_exactly_its_permissions(role: Role, may: set[Permission]) -> None:
    assert {p for p in Permission if allows(role, p)} == may


def test_an_unknown_role_may_do_nothing() -> None:
    assert not any(allows("root", p) for p in Permission)
    assert not any(allows("", p) for p in Permission)


def test_a_role_is_read_from_text_and_a_wrong_one_names_the_choices() -> None:
    assert parse_role(" Editor ") is Role.EDITOR
    with pytest.raises(ValueError, match="viewer, editor, approver, owner"):
        parse_role("admin")
