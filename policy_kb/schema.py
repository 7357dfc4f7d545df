"""The knowledge base's records, validated strictly (unknown keys are errors) on every way in:
YAML seed files, Excel/CSV imports and the provincial catalogue importer.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Window = Literal["企业开办", "工程建设", "不动产登记", "公积金", "出入境", "社保医保", "跨省通办", "综合"]
WINDOWS: tuple[Window, ...] = ("企业开办", "工程建设", "不动产登记", "公积金", "出入境", "社保医保", "跨省通办", "综合")
ItemType = Literal["行政许可", "行政确认", "行政给付", "行政裁决", "行政奖励", "公共服务", "其他行政权力"]
MaterialForm = Literal["原件", "复印件", "原件和复印件", "电子证照"]
CrossProvinceMode = Literal["全程网办", "异地代收代办", "多地联办"]
Domain = Literal["金融财税", "节能减排", "减税降费", "就业服务", "招商引资", "工业发展", "社会保障"]
DOMAINS: tuple[Domain, ...] = ("金融财税", "节能减排", "减税降费", "就业服务", "招商引资", "工业发展", "社会保障")
Scale = Literal["大型", "中型", "小型", "微型", "个体工商户"]
SCALES: tuple[Scale, ...] = ("大型", "中型", "小型", "微型", "个体工商户")
TaxpayerType = Literal["小规模纳税人", "一般纳税人"]
Need = Literal["减税", "补贴", "贷款", "招工", "社保", "奖励", "融资"]
NEEDS: tuple[Need, ...] = ("减税", "补贴", "贷款", "招工", "社保", "奖励", "融资")


class Strict(BaseModel):
    """Base for KB records: unknown keys are errors, strings are trimmed, records are immutable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Material(Strict):
    """申报材料: one document the applicant brings."""

    name: str = Field(min_length=1, max_length=200)
    required: bool = True
    deferrable: bool = False  # 容缺: may be supplied after acceptance
    form: MaterialForm = "原件"
    copies: int = Field(1, ge=0, le=99)
    notes: str = ""
    sample_url: str = ""
    # Documents any one of which serves as this material (居住地住址证明: 房屋租赁合同, 不动产权证书 …): a pre-check
    # that names one counts the material as brought.
    accepted: tuple[str, ...] = ()
    # Made at the window (申请表 filled in or printed there, photo taken, statement signed before the clerk): nobody
    # brings it, so a pre-check never counts it as missing.
    on_site: bool = False


class ServiceItem(Strict):
    """事项: a service a citizen or enterprise applies for, with its 办事指南."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    aliases: tuple[str, ...] = ()
    # Words that mean another matter, though the name shares most of its words (离婚 for 结婚登记).
    not_for: tuple[str, ...] = ()
    department: str = ""
    item_type: ItemType = "公共服务"
    window: Window = "综合"
    conditions: tuple[str, ...] = ()
    materials: tuple[Material, ...] = ()
    steps: tuple[str, ...] = ()
    legal_days: int | None = Field(None, ge=0)
    promised_days: int | None = Field(None, ge=0)
    instant: bool = False  # 即办件
    fee: str = ""
    amount: str = ""  # 待遇标准: what the item pays or lets one draw, and for how long (失业保险金, 低保)
    legal_basis: tuple[str, ...] = ()
    location: str = ""
    hours: str = ""
    phone: str = ""
    online_url: str = ""
    common_errors: tuple[str, ...] = ()
    cross_province: CrossProvinceMode | None = None
    sample_local: bool = False
    source: str = ""
    verified: date | None = None

    @field_validator("materials")
    @classmethod
    def _unique_material_names(cls, value: tuple[Material, ...]) -> tuple[Material, ...]:
        names = [m.name for m in value]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"duplicate material names: {', '.join(sorted(duplicates))}")
        return value


class Bundle(Strict):
    """一件事: several items applied for together with one set of materials."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    aliases: tuple[str, ...] = ()
    items: tuple[str, ...] = Field(min_length=2)
    # Materials of its items the bundle does not ask for: made by one of its own items (新生儿: the 出生医学证明
    # the first item issues), or for a case the bundle is not (原社会保障卡 when a card is replaced).
    not_needed: tuple[str, ...] = ()
    promised_days: int | None = Field(None, ge=0)
    notes: str = ""


class LayoffLimit(Strict):
    """The 裁员率 (layoffs in the year ÷ insured staff) a policy allows, e.g. 稳岗返还: at most the year's national
    urban unemployment target, or a higher share for a firm of few insured staff.
    """

    max_percent: float = Field(gt=0, le=100)
    small_firm_staff: int | None = Field(None, gt=0)  # this many insured staff or fewer: the small-firm limit
    small_firm_max_percent: float | None = Field(None, gt=0, le=100)


class StaffLimit(Strict):
    """A cap on the enterprise's staff for a policy or part of it, e.g. 残疾人就业保障金: 在职职工 30 人（含）以下免征,
    others 减缴 by the share of disabled staff; 小型微利企业: 从业人数不超过 300 人.
    """

    max_staff: int = Field(gt=0)
    counted: str = Field("在职职工人数", min_length=1)  # what the document counts (从业人数, 参保职工…)
    within: str = ""  # what an enterprise within the cap gets, when only part of the policy is capped ("免征")
    over: str = ""  # what is left for one over it ("按安排残疾人就业的比例减缴…"); empty: nothing


class Eligibility(Strict):
    """Who a policy is for. An empty tuple means "any"."""

    scales: tuple[Scale, ...] = ()
    industries: tuple[str, ...] = ()
    # Industries the policy is not for, named as the document names them (研发费用加计扣除: 住宿和餐饮业 …).
    excluded_industries: tuple[str, ...] = ()
    taxpayer_types: tuple[TaxpayerType, ...] = ()
    min_age_years: float | None = Field(None, ge=0)
    max_age_years: float | None = Field(None, ge=0)
    regions: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    layoffs: LayoffLimit | None = None  # computed from what the enterprise says ("裁了两个人，总共25个人")
    staff: StaffLimit | None = None  # compared with the headcount the enterprise says ("我们35个人")


class Policy(Strict):
    """惠企政策: an enterprise policy with its issuing document (文号)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1, max_length=200)
    doc_no: str = ""  # 文号; empty when not confirmed — never invented
    issuer: str = ""
    domain: Domain
    summary: str = ""
    benefit: str = ""
    eligibility: Eligibility = Field(default_factory=Eligibility)
    needs: tuple[Need, ...] = ()
    how_to_apply: str = ""
    materials: tuple[str, ...] = ()
    window: str = ""
    valid_from: date | None = None
    valid_until: date | None = None
    keywords: tuple[str, ...] = ()
    source: str = ""
    sample: bool = False

    def expired(self, today: date) -> bool:
        """Whether the policy's validity ended before `today`."""
        return self.valid_until is not None and self.valid_until < today

    def not_yet_valid(self, today: date) -> bool:
        """Whether the policy starts after `today`."""
        return self.valid_from is not None and self.valid_from > today


class Profile(Strict):
    """An enterprise's profile, as far as it is known; None means "not said"."""

    scale: Scale | None = None
    industry: str | None = None
    taxpayer_type: TaxpayerType | None = None
    age_years: float | None = Field(None, ge=0)
    region: str | None = None
    needs: tuple[Need, ...] = ()
