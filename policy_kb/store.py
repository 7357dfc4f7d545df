"""Reading and writing the KB in SQL. Every write is one transaction: a bad batch changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import delete, func
from sqlmodel import col, select

from core.db import SessionFactory, utcnow
from policy_kb.content import KbContent, KbValidationError, locate_error
from policy_kb.models import KbBundle, KbItem, KbMaterialAlias, KbPolicy
from policy_kb.schema import Bundle, Policy, ServiceItem

log = logging.getLogger("policy_kb.store")
_CHUNK = 500


@dataclass(frozen=True)
class WriteReport:
    """How many records of each kind a write stored."""

    items: int
    bundles: int
    policies: int
    removed: int = 0


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


class KbStore:
    """The KB tables behind a small API."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db

    async def count_items(self) -> int:
        """How many service items are stored."""
        async with self._db() as db:
            return int((await db.exec(select(func.count()).select_from(KbItem))).one())

    async def upsert(self, content: KbContent, origin: str, *, replace_prefix: str | None = None) -> WriteReport:
        """Insert or replace the records of `content` in one transaction. Each record keeps the origin
        recorded in `content.origins`, else gets `origin`.

        With `replace_prefix`, stored records whose origin starts with it and that `content` no longer has
        are removed (so re-loading the YAML seed drops what was deleted from it).
        """
        content.check(bundle_items=False)  # bundles may name items already stored
        now = utcnow()
        removed = 0

        def origin_of(kind: str, key: str) -> str:
            return content.origins.get(f"{kind}:{key}", origin)

        async with self._db() as db, db.begin():
            await self._delete_keys(db, KbItem, KbItem.code, [i.code for i in content.items])
            await self._delete_keys(db, KbBundle, KbBundle.code, [b.code for b in content.bundles])
            await self._delete_keys(db, KbPolicy, KbPolicy.id, [p.id for p in content.policies])
            if replace_prefix:
                for table in (KbItem, KbBundle, KbPolicy):
                    stale = delete(table).where(col(table.origin).startswith(replace_prefix))
                    result = await db.exec(stale)  # type: ignore[call-overload]
                    removed += result.rowcount or 0
            db.add_all([KbItem(code=i.code, name=i.name, window=i.window, origin=origin_of("item", i.code),
                               updated_at=now, data=i.model_dump(mode="json")) for i in content.items])
            db.add_all([KbBundle(code=b.code, name=b.name, origin=origin_of("bundle", b.code), updated_at=now,
                                 data=b.model_dump(mode="json")) for b in content.bundles])
            db.add_all([KbPolicy(id=p.id, title=p.title, domain=p.domain, origin=origin_of("policy", p.id),
                                 updated_at=now, data=p.model_dump(mode="json")) for p in content.policies])
            if content.material_aliases:
                await db.exec(delete(KbMaterialAlias))  # type: ignore[call-overload]
                db.add_all([KbMaterialAlias(names=list(g)) for g in content.material_aliases])
        return WriteReport(len(content.items), len(content.bundles), len(content.policies), removed)

    async def _delete_keys(self, db, table, column, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
        for chunk in _chunks(keys):
            await db.exec(delete(table).where(column.in_(chunk)))

    async def load(self) -> KbContent:
        """Everything stored, validated again (a hand-edited database row cannot break the bot silently)."""
        content = KbContent()
        async with self._db() as db:
            items = (await db.exec(select(KbItem).order_by(KbItem.code))).all()
            bundles = (await db.exec(select(KbBundle).order_by(KbBundle.code))).all()
            policies = (await db.exec(select(KbPolicy).order_by(KbPolicy.id))).all()
            aliases = (await db.exec(select(KbMaterialAlias).order_by(col(KbMaterialAlias.id)))).all()
        try:
            for row in items:
                content.items.append(ServiceItem.model_validate(row.data))
                content.origins[f"item:{row.code}"] = row.origin
            for brow in bundles:
                content.bundles.append(Bundle.model_validate(brow.data))
                content.origins[f"bundle:{brow.code}"] = brow.origin
            for prow in policies:
                content.policies.append(Policy.model_validate(prow.data))
                content.origins[f"policy:{prow.id}"] = prow.origin
        except ValidationError as exc:
            field_name, problem = locate_error(exc)
            raise KbValidationError("database", "?", field_name, problem) from None
        content.material_aliases = [tuple(a.names) for a in aliases]
        return content
