"""Staff roles and what each may do: ``viewer`` reads, ``editor`` composes alerts and
edits the digest, ``approver`` approves and sends (and manages readers), ``owner`` also
manages accounts and settings. Each role may do everything the roles below it may.

The staff actions (``staff.actions``) check a ``Permission`` before doing anything; the
console hides the buttons a role cannot use with the same ``allows``.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    OWNER = "owner"


RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.OWNER: 3}
DESCRIPTIONS = {
    Role.VIEWER: "reads every page, changes nothing",
    Role.EDITOR: "composes alerts, edits the digest, manages feeds",
    Role.APPROVER: "also approves and sends alerts and the digest, manages readers",
    Role.OWNER: "also manages staff accounts and exports the reader list",
}


class Permission(StrEnum):
    """What an action needs; ``NEEDS`` names the least role that has it."""

    COMPOSE = "compose"  # draft and test alerts, edit the digest, cancel, feeds
    SEND = "send"  # approve alerts, approve or send the digest
    READERS = "readers"  # add, import, change, suppress, erase and purge readers
    EXPORT = "export"  # the whole reader list as a file
    ACCOUNTS = "accounts"  # staff accounts, roles and API tokens


NEEDS = {
    Permission.COMPOSE: Role.EDITOR,
    Permission.SEND: Role.APPROVER,
    Permission.READERS: Role.APPROVER,
    Permission.EXPORT: Role.OWNER,
    Permission.ACCOUNTS: Role.OWNER,
}


def parse_role(value: str) -> Role:
    """The role named ``value``; ValueError naming the choices otherwise."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise ValueError(f"{value!r} is not a role (one of {choices})") from None


def allows(role: str, permission: Permission | str) -> bool:
    """Whether ``role`` has ``permission``; an unknown role has none."""
    try:
        return RANKS[Role(role)] >= RANKS[NEEDS[Permission(permission)]]
    except ValueError:
        return False
