"""In-platform notices to users (站内通知)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdMixin, db, utcnow


class Notification(IdMixin, Base):
    __tablename__ = "notifications"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


def notify(user_ids: Iterable[int], title: str, body: str = "", link: str | None = None) -> int:
    count = 0
    for user_id in sorted(set(user_ids)):
        db.session.add(Notification(user_id=user_id, title=title, body=body, link=link))
        count += 1
    return count
