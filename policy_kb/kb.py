"""The knowledge base as the bot uses it: look-ups, search, policy eligibility and bundle materials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core.pinyin import SoundCorrector, fold_sounds
from core.text import Synonyms, Tokenizer
from policy_kb.content import KbContent
from policy_kb.loader import Vocabulary
from policy_kb.schema import Bundle, Material, Policy, Profile, ServiceItem
from policy_kb.search import Hit, NameMatcher, SearchDoc, SearchIndex

# Records imported from a large provincial catalogue rank just below curated local ones on a tie.
CATALOGUE_WEIGHT = 0.97


@dataclass(frozen=True)
class MergedMaterial:
    """A material of a bundle: the same document needed by several items is listed once."""

    name: str
    required: bool
    deferrable: bool
    form: str
    copies: int
    notes: str
    for_items: tuple[str, ...]  # item codes that need it
    on_site: bool = False  # made at the window (Material.on_site) for every item that needs it
    accepted: tuple[str, ...] = ()  # documents that serve as it (Material.accepted), from every item that needs it


class KnowledgeBase:
    """An immutable snapshot of the KB with its search index. Hot reload swaps the whole snapshot."""

    def __init__(self, content: KbContent, tokenizer: Tokenizer, synonyms: Synonyms, names: NameMatcher,
                 cache_dir: Path | None = None) -> None:
        self.items: dict[str, ServiceItem] = {i.code: i for i in content.items}
        self.bundles: dict[str, Bundle] = {b.code: b for b in content.bundles}
        self.policies: dict[str, Policy] = {p.id: p for p in content.policies}
        self.origins = dict(content.origins)
        self._canonical = {name: group[0] for group in content.material_aliases for name in group}
        self._alias_groups = {name: group for group in content.material_aliases for name in group}
        self._material_names = frozenset(name for item in content.items for m in item.materials
                                         for name in (m.name, *m.accepted))
        self._material_names_longest_first = sorted({*self._material_names, *self._alias_groups}, key=len,
                                                    reverse=True)
        self._not_for = {item.code: item.not_for for item in content.items if item.not_for}
        self._material_speller = _material_speller(content)
        self._material_words: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self.tokenizer = tokenizer
        self._bundle_checklists: dict[str, ServiceItem] = {}
        self.index = SearchIndex(self._docs(), tokenizer, synonyms, names, cache_dir)

    @classmethod
    def build(cls, content: KbContent, vocabulary: Vocabulary | None = None,
              cache_dir: Path | None = None) -> KnowledgeBase:
        """Build the tokenizer (with the KB's words as its dictionary) and the index (its slow part read from
        `cache_dir` when it was built there before from the same content)."""
        vocabulary = vocabulary or Vocabulary()
        synonyms = Synonyms(vocabulary.synonym_groups, dict(vocabulary.broader_terms))
        words = set(synonyms.words)
        for item in content.items:
            words.update((item.name, *item.aliases))
        for bundle in content.bundles:
            words.update((bundle.name, *bundle.aliases))
        for policy in content.policies:
            words.update((policy.title, *policy.keywords))
        return cls(content, Tokenizer(words), synonyms, NameMatcher(vocabulary.fillers, vocabulary.bundle_cues),
                   cache_dir)

    def _docs(self) -> list[SearchDoc]:
        docs = []
        for item in self.items.values():
            weight = CATALOGUE_WEIGHT if self.origins.get(f"item:{item.code}", "").startswith("catalogue") else 1.0
            docs.append(SearchDoc("item", item.code, item.name, (item.name, *item.aliases),
                                  text=item.department, facets={"window": item.window}, weight=weight))
        for bundle in self.bundles.values():
            docs.append(SearchDoc("bundle", bundle.code, bundle.name, (bundle.name, *bundle.aliases),
                                  parts=tuple(bundle.items)))
        for policy in self.policies.values():
            docs.append(SearchDoc("policy", policy.id, policy.title, (policy.title, *policy.keywords),
                                  text=f"{policy.doc_no} {policy.benefit}", facets={"domain": policy.domain}))
        return docs

    def search(self, query: str, kinds: Sequence[str] | None = None, limit: int = 5,
               facets: dict[str, str] | None = None) -> list[Hit]:
        """Ranked matches (see SearchIndex.search), without an item whose `not_for` words the query holds
        ("离婚登记" is not 结婚登记, though it shares most of its words).
        """
        if not self._not_for:
            return self.index.search(query, kinds, limit, facets)
        hits = self.index.search(query, kinds, limit + len(self._not_for), facets)
        return [h for h in hits if not any(w in query for w in self._not_for.get(h.key, ()))][:limit]

    def not_for_word(self, query: str) -> str | None:
        """The first `not_for` word of any item that the query holds ("离婚"), or None."""
        return next((w for words in self._not_for.values() for w in words if w in query), None)

    def sound_corrected(self, text: str) -> str:
        """`text` with same-sounding typos of the KB's names and words put right (see SearchIndex.sound_corrected)."""
        return self.index.sound_corrected(text)

    def best(self, query: str, kinds: Sequence[str] | None = None) -> Hit | None:
        """The single confident match, or None when the KB has no confident answer."""
        hits = self.search(query, kinds, limit=1)
        return hits[0] if hits and hits[0].confident else None

    def asks_for_several(self, question: str) -> bool:
        """Whether the question asks about several services at once (一起办, 全部手续)."""
        return self.index.asks_for_several(question)

    def is_the_title_of(self, query: str, hit: Hit) -> bool:
        """Whether the question is, filler words apart, the title of what `hit` found ("企业开办")."""
        return self.index.is_the_title_of(query, hit)

    def without_bundle_cues(self, text: str) -> str:
        """`text` without the words that ask for several services at once ("一起" of "能一起办吗")."""
        return self.index.without_bundle_cues(text)

    def core(self, question: str) -> str:
        """The question without filler words and spaces (what is left may name a record)."""
        return self.index.core(question)

    def names_only(self, query: str, hit: Hit) -> bool:
        """Whether the question only names the record it found, typos corrected (see SearchIndex.names_only)."""
        return self.index.names_only(query, hit)

    def eligible(self, profile: Profile, today: date) -> list[Policy]:
        """Current policies this enterprise may use, best first: national before local samples (a deployment
        replaces the samples with its real local policies), then the most specific fit and wanted benefit.
        """
        ranked = []
        for policy in self.policies.values():
            if policy.expired(today) or policy.not_yet_valid(today):
                continue
            fit = _fit(policy, profile)
            if fit is not None:
                ranked.append((fit, not policy.sample, policy.id, policy))
        ranked.sort(key=lambda r: (not r[1], -r[0], r[2]))
        return [r[3] for r in ranked]

    def bundle_materials(self, code: str) -> list[MergedMaterial]:
        """The bundle's materials: its items' lists joined, each document once (alias groups merged)."""
        merged: dict[str, MergedMaterial] = {}
        bundle = self.bundles[code]
        not_needed = {self.canonical_material(name) for name in bundle.not_needed}
        for item_code in bundle.items:
            for material in self.items[item_code].materials:
                name = self.canonical_material(material.name)
                if name in not_needed:
                    continue
                seen = merged.get(name)
                merged[name] = _merge(name, material, item_code) if seen is None else MergedMaterial(
                    name=name, required=seen.required or material.required,
                    deferrable=seen.deferrable and material.deferrable, form=seen.form,
                    copies=max(seen.copies, material.copies), notes=seen.notes or material.notes,
                    for_items=(*seen.for_items, item_code), on_site=seen.on_site and material.on_site,
                    accepted=tuple(dict.fromkeys((*seen.accepted, *material.accepted))))
        return list(merged.values())

    def bundle_checklist(self, code: str) -> ServiceItem:
        """The bundle as one application for 预审 (pre-check): its merged materials in the order `bundle_materials`
        lists them, at the window and place of its first item, where a bundle is applied for.
        """
        known = self._bundle_checklists.get(code)
        if known is not None:
            return known
        bundle = self.bundles[code]
        first = self.items[bundle.items[0]]
        materials = tuple(Material(name=m.name, required=m.required, deferrable=m.deferrable,
                                   form=m.form, copies=m.copies, notes=m.notes,  # type: ignore[arg-type]
                                   on_site=m.on_site, accepted=m.accepted)
                          for m in self.bundle_materials(code))
        checklist = ServiceItem(code=bundle.code, name=bundle.name, window=first.window, location=first.location,
                                hours=first.hours, phone=first.phone, promised_days=bundle.promised_days,
                                materials=materials)
        self._bundle_checklists[code] = checklist  # the snapshot never changes: built once, on first use
        return checklist

    def canonical_material(self, name: str) -> str:
        """The standard name of a material (its alias group's first name)."""
        return self._canonical.get(name, name)

    def without_material_names(self, text: str) -> str:
        """`text` with every material name in it blanked out ("我有身份证 户口本" → "我有   "), longest first."""
        for name in self._material_names_longest_first:
            if name in text:
                text = text.replace(name, " ")
        return text

    def names_of(self, hit: Hit) -> tuple[str, ...]:
        """The name and aliases of the item or bundle a hit found (its title alone for anything else)."""
        record = self.items.get(hit.key) if hit.kind == "item" else self.bundles.get(hit.key)
        return (record.name, *record.aliases) if record is not None else (hit.title,)

    def material_named(self, text: str) -> str | None:
        """The longest material name in `text` ("户口本要带吗" → 户口本), or None."""
        return next((name for name in self._material_names_longest_first if name in text), None)

    def is_material_name(self, name: str) -> bool:
        """Whether `name` is what some material of the KB is called (户口本, 房产证): talk of materials, not a
        question about an item.
        """
        return name in self._alias_groups or name in self._material_names

    def material_words(self, name: str, accepted: Sequence[str] = ()) -> tuple[str, ...]:
        """Every name a material goes by (`material_names`), and the names of the materials its names contain, with
        their aliases: 父母结婚证 is asked about as 结婚证, 父母居民身份证 as 身份证.
        """
        cached = self._material_words.get((name, tuple(accepted)))
        if cached is not None:
            return cached
        names = self.material_names(name, accepted)
        inside = [known for known in self._material_names_longest_first
                  if len(known) >= 2 and known not in names and any(known in n for n in names)]
        words = [*names, *(alias for known in inside for alias in (known, *self._alias_groups.get(known, ())))]
        found = self._material_words[(name, tuple(accepted))] = tuple(dict.fromkeys(words))
        return found

    def respell_materials(self, text: str) -> str:
        """`text` with same-sounding misspellings of material names put right ("我有身分证" → "我有身份证"), so a
        misspelt name is matched however the material is called in a list (买卖双方身份证明).
        """
        return self._material_speller.correct(text)

    def material_names(self, name: str, accepted: Sequence[str] = ()) -> tuple[str, ...]:
        """Every name a material goes by: its own and its alias group's (身份证 for 居民身份证), then those of the
        documents `accepted` as it (租房合同 for 居住地住址证明's 房屋租赁合同).
        """
        names = [name, *(alias for alias in self._alias_groups.get(name, ()) if alias != name)]
        for document in accepted:
            names += [document, *self._alias_groups.get(document, ())]
        return tuple(dict.fromkeys(names))


def _merge(name: str, material: Material, item_code: str) -> MergedMaterial:
    return MergedMaterial(name=name, required=material.required, deferrable=material.deferrable,
                          form=material.form, copies=material.copies, notes=material.notes, for_items=(item_code,),
                          on_site=material.on_site, accepted=material.accepted)


ENTERPRISE_SCALES = frozenset({"大型", "中型", "小型", "微型"})


def fits(policy: Policy, profile: Profile) -> bool:
    """Whether nothing the profile says rules the policy out (what it does not say is not held against it)."""
    return _fit(policy, profile) is not None


def _fit(policy: Policy, profile: Profile) -> int | None:
    """None when the profile rules the policy out; otherwise how many stated conditions it matches."""
    rules = policy.eligibility
    score = 0
    checks: list[tuple[tuple[str, ...], str | None]] = [
        (rules.scales, profile.scale),
        (rules.taxpayer_types, profile.taxpayer_type),
        (rules.regions, profile.region),
    ]
    for allowed, value in checks:
        if allowed and value is not None:
            if value not in allowed:
                return None
            # Every enterprise size (研发费用加计扣除) rules out only 个体工商户: no closer fit than no rule at all.
            score += 0 if allowed is rules.scales and set(allowed) >= ENTERPRISE_SCALES else 1
    if profile.industry is not None and profile.industry in rules.excluded_industries:
        return None
    if rules.industries and profile.industry is not None:
        if not any(i in profile.industry or profile.industry in i for i in rules.industries):
            return None
        score += 1
    if profile.age_years is not None:
        if rules.min_age_years is not None and profile.age_years < rules.min_age_years:
            return None
        if rules.max_age_years is not None and profile.age_years > rules.max_age_years:
            return None
    if profile.needs:
        score += 2 * len(set(profile.needs) & set(policy.needs))
    return score


def _material_speller(content: KbContent) -> SoundCorrector:
    """A corrector to material names; of names that sound alike, the one listed first in its alias group is
    the spelling put back (身份证, not the alias 身分证 kept for exact matches).
    """
    names = [name for group in content.material_aliases for name in group]
    names += sorted({name for item in content.items for m in item.materials for name in (m.name, *m.accepted)})
    by_sound: dict[str, str] = {}
    for name in names:
        by_sound.setdefault(fold_sounds(name), name)
    return SoundCorrector(by_sound.values())
