"""Tables for letter 004's emulation blocks: blocks, versioned criteria sheets, score cards.

Declared on the same metadata as storage.models (imported at its end), so Alembic and the
schema check see them; kept apart so the emulation work stays in its own modules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, Unit, utcnow


class EmulationBlock(Base):
    """A block of units for one year ("khối thi đua"), with its head and deputy unit.

    `settings` holds the member unit ids, the titles units may aim for or be proposed for,
    the self-scoring deadline and the report due dates, as written in the campaigns file.
    """

    __tablename__ = "emulation_blocks"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    year: Mapped[int] = mapped_column(Integer)
    head_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    deputy_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    head_unit: Mapped[Unit] = relationship(lazy="joined", foreign_keys=[head_unit_id])
    deputy_unit: Mapped[Unit | None] = relationship(lazy="joined", foreign_keys=[deputy_unit_id])


class EmulationSheet(Base):
    """One version of a block's criteria and scale; members see it once it is published."""

    __tablename__ = "emulation_sheets"
    __table_args__ = (UniqueConstraint("block_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("emulation_blocks.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class EmulationCard(Base):
    """One member unit's year in a block: registration, covenant, self-scores, the block's
    adjustments, the award proposed and the periodic reports.

    `scores` maps a criterion id to {"self", "note", "evidence", "block", "reason"}.
    """

    __tablename__ = "emulation_cards"
    __table_args__ = (UniqueConstraint("block_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("emulation_blocks.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    sheet_id: Mapped[int | None] = mapped_column(ForeignKey("emulation_sheets.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reports: Mapped[dict[str, Any]] = mapped_column(default=dict)
    covenant_at: Mapped[datetime | None] = mapped_column()
    covenant_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    late: Mapped[bool] = mapped_column(default=False)
    award: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    unit: Mapped[Unit] = relationship(lazy="joined")
