"""Database base classes and column types shared by every domain package."""
from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal
from typing import Generic, TypeVar

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.errors import InvalidTransition

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC in and out, on SQLite (which stores no zone) and on PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


#: Money in CNY, exact to the fen.
Money = sa.Numeric(18, 2, asdecimal=True)


class Base(DeclarativeBase):
    registry = sa.orm.registry(metadata=sa.MetaData(naming_convention=NAMING),
                               type_annotation_map={datetime: UTCDateTime(), Decimal: Money})


db = SQLAlchemy(model_class=Base)


class IdMixin:
    id: Mapped[int] = mapped_column(primary_key=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


S = TypeVar("S", bound=enum.Enum)


class StateMachine(Generic[S]):
    """One table of allowed transitions per stateful object, checked in one place.

    ``labels`` gives each state its Chinese name for messages and pages.
    """

    def __init__(self, name: str, transitions: dict[S, set[S]], labels: dict[S, str]):
        self.name = name
        self.transitions = transitions
        self.labels = labels

    def check(self, current: S, target: S) -> None:
        if target not in self.transitions.get(current, set()):
            raise InvalidTransition(
                f"{self.name}不能从“{self.labels[current]}”转为“{self.labels[target]}” "
                f"({self.name}: {current.value} → {target.value} is not allowed)"
            )

    def allowed(self, current: S) -> set[S]:
        return set(self.transitions.get(current, set()))


def enum_column(enum_cls: type[enum.Enum], **kwargs):
    """A string column guarded by a CHECK constraint listing the enum's values."""
    return mapped_column(
        sa.Enum(enum_cls, native_enum=False, length=32, create_constraint=True, values_callable=lambda e: [m.value for m in e],
                validate_strings=True),
        **kwargs,
    )
