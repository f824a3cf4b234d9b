"""Tables for the month's exemplar (letter 001: "định kỳ hàng tháng các đơn vị … lựa chọn giới
thiệu 01 gương ĐHTT, NTVT tiêu biểu"): each unit head's pick, and the office's list sent up.

Declared on the same metadata as storage.models (imported at its end), so Alembic and the
schema check see them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class MonthExemplar(Base):
    """One unit's exemplar of one month ('YYYY-MM') in one campaign, with the head's reason.

    `goes_up` is the office's mark: this one is on the list it sends to the level above.
    """

    __tablename__ = "month_exemplars"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    month: Mapped[str] = mapped_column(String(7))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    reason: Mapped[str] = mapped_column(Text)
    nominated_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column()
    goes_up: Mapped[bool] = mapped_column(Boolean, default=False)


class MonthList(Base):
    """The office's compiled list of one month, once sent to the level above (sent once)."""

    __tablename__ = "month_lists"
    __table_args__ = (UniqueConstraint("campaign_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    month: Mapped[str] = mapped_column(String(7))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    sent_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    sent_at: Mapped[datetime] = mapped_column()
