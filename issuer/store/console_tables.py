"""The admin console's sign-in links (issuer/clients/console_links.py), imported by the
console and the CLI command that makes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from issuer.store.models import Base
from issuer.store.tables import CLIENT_ID_LENGTH, UtcDateTime


class ConsoleSignInLink(Base):
    """A one-time sign-in link to the admin console (`issuer console link`): the SHA-256
    of its code (the code itself is printed once and stored nowhere), the admin client it
    signs in as, and until when. Single use: a conditional UPDATE of `used_at` claims it,
    so two tabs or two processes racing for one link get one session between them."""

    __tablename__ = "console_sign_in_links"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(CLIENT_ID_LENGTH),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        index=True,
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
