"""The shipped knowledge base is real enough for a county centre (issue: Knowledge base → Content)."""

from __future__ import annotations

from datetime import date

import pytest

from policy_kb.kb import KnowledgeBase
from policy_kb.loader import DATA_DIR, load_vocabulary, load_yaml_dir
from policy_kb.schema import DOMAINS, WINDOWS, Profile

TODAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.build(load_yaml_dir(), load_vocabulary())


def test_every_file_says_deployments_must_verify() -> None:
    for path in [*DATA_DIR.glob("items/*.yml"), *DATA_DIR.glob("policies/*.yml")]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# 部署前须核对"), path


def test_items_cover_every_window_and_the_named_services(kb: KnowledgeBase) -> None:
    assert len(kb.items) >= 40
    assert {i.window for i in kb.items.values()} == set(WINDOWS)
    names = " ".join(i.name for i in kb.items.values())
    for needed in (
        "企业设立登记",
        "公章刻制",
        "发票领用",
        "银行开户",
        "单位参保登记",
        "公积金单位缴存登记",
        "个体工商户设立",
        "企业变更",
        "简易注销",
        "施工许可",
        "规划许可",
        "环境影响评价",
        "竣工验收备案",
        "存量房转移登记",
        "抵押权首次登记",
        "不动产权证书补发",
        "提取（购买自住住房）",
        "提取（租赁住房）",
        "提取（与单位解除劳动关系",
        "个人住房贷款",
        "普通护照",
        "往来港澳通行证",
        "失业保险金",
        "灵活就业人员参保",
        "社会保障卡",
        "异地就医备案",
        "养老保险关系转移",
        "居住证",
        "结婚登记",
        "食品经营许可",
    ):
        assert needed in names, needed
    assert sum(1 for i in kb.items.values() if i.cross_province) >= 5


def test_deferrable_materials_are_never_the_main_ones(kb: KnowledgeBase) -> None:
    for item in kb.items.values():
        assert item.materials, item.code
        for material in item.materials:
            if material.deferrable:
                assert not any(word in material.name for word in ("申请书", "申请表")), (item.code, material.name)


def test_company_bundle_merges_the_same_document_once(kb: KnowledgeBase) -> None:
    bundle = next(b for b in kb.bundles.values() if b.name == "企业开办")
    assert len(bundle.items) == 6
    merged = kb.bundle_materials(bundle.code)
    names = [m.name for m in merged]
    assert len(names) == len(set(names))
    separate = [m.name for code in bundle.items for m in kb.items[code].materials]
    assert len(merged) < len(separate), "shared documents (ID of the legal representative...) are merged"
    shared = [m for m in merged if len(m.for_items) > 1]
    assert shared, "at least one document serves several steps"


def test_policies_cover_all_domains_with_the_national_documents(kb: KnowledgeBase) -> None:
    assert len(kb.policies) >= 40
    assert {p.domain for p in kb.policies.values()} == set(DOMAINS)
    by_title = {p.title: p for p in kb.policies.values()}
    expected = {
        "小型微利企业所得税优惠": "财政部 税务总局公告2023年第12号",
        "增值税小规模纳税人减免增值税": "财政部 税务总局公告2023年第19号",
        "研发费用税前加计扣除": "财政部 税务总局公告2023年第7号",
        "先进制造业企业增值税加计抵减5%": "财政部 税务总局公告2023年第43号",
        "资源综合利用产品及劳务增值税即征即退": "财政部 税务总局公告2021年第40号",
    }
    for title, doc_no in expected.items():
        assert by_title[title].doc_no == doc_no
    assert by_title["小型微利企业所得税优惠"].valid_until == date(2027, 12, 31)
    assert all(p.issuer or p.sample for p in kb.policies.values())
    assert sum(1 for p in kb.policies.values() if p.expired(TODAY)) >= 3


@pytest.mark.parametrize(
    ("question", "code"),
    [
        ("二手房过户要带啥", "BDC-0001"),
        ("房产证丢了咋办", "BDC-0005"),
        ("租房能取公积金吗", "GJJ-0002"),
        ("办护照", "CRJ-0001"),
        ("港澳通行证续签", "CRJ-0002"),
        ("异地就医怎么备案", "SB-0004"),
        ("领失业金", "SB-0001"),
        ("个体户执照怎么办", "QY-0007"),
        ("结婚证在哪领", "ZH-0002"),
        ("二手防过户", "BDC-0001"),  # a typo
    ],
)
def test_colloquial_questions_find_the_item(kb: KnowledgeBase, question: str, code: str) -> None:
    best = kb.best(question, kinds=["item"])
    assert best is not None and best.key == code, kb.search(question, kinds=["item"])


def test_no_confident_answer_rather_than_a_wrong_one(kb: KnowledgeBase) -> None:
    for question in ("今天天气怎么样", "帮我订个外卖", "阿巴阿巴"):
        assert kb.best(question) is None, (question, kb.search(question))


def test_small_scale_manufacturer_gets_current_eligible_policies_only(kb: KnowledgeBase) -> None:
    profile = Profile(scale="小型", industry="制造业", taxpayer_type="小规模纳税人", needs=("减税",))
    eligible = kb.eligible(profile, TODAY)
    ids = [p.id for p in eligible]
    assert "small-scale-vat-relief" in ids and "xwqy-income-tax" in ids
    assert "advanced-manufacturing-vat-credit" not in ids, "for general taxpayers only"
    assert "gtgsh-iit-half" not in ids, "for 个体工商户 only"
    assert not any(p.expired(TODAY) for p in eligible)
    assert "vat-small-scale-exempt-2022" not in ids
    assert "hnte-cit-15" not in ids, "for certified high-tech enterprises only"
    assert ids.index("small-scale-vat-relief") < ids.index("rd-super-deduction"), "the specific fit ranks first"


def test_self_employed_get_the_personal_income_tax_half(kb: KnowledgeBase) -> None:
    ids = [p.id for p in kb.eligible(Profile(scale="个体工商户"), TODAY)]
    assert "gtgsh-iit-half" in ids and "xwqy-income-tax" not in ids
    # 企业所得税 and the enterprise-only deductions are not for a 个体工商户, who pays 个人所得税
    for enterprise_only in ("hnte-cit-15", "energy-env-equipment-tax-credit", "hire-veterans-tax-deduction",
                            "disabled-wage-super-deduction"):
        assert enterprise_only not in ids, enterprise_only


def test_an_industry_the_document_rules_out_is_not_offered_the_policy(kb: KnowledgeBase) -> None:
    def ids(**profile: str) -> list[str]:
        return [p.id for p in kb.eligible(Profile(needs=("减税",), **profile), TODAY)]  # type: ignore[arg-type]
    assert "rd-super-deduction" in ids(scale="小型", industry="制造业")
    assert "rd-super-deduction" not in ids(scale="小型", industry="住宿和餐饮业"), "研发费用加计扣除 excludes it"
    assert "rd-super-deduction" not in ids(scale="个体工商户"), "for enterprises only"
