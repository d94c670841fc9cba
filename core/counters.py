"""Gap-free named counters (receipt numbers and the like), safe across processes: the row is locked."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, db


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def next_value(name: str) -> int:
    row = db.session.scalars(sa.select(Counter).where(Counter.name == name).with_for_update()).first()
    if row is None:
        row = Counter(name=name, value=0)
        db.session.add(row)
    row.value += 1
    db.session.flush()
    return row.value
