"""The KB over HTTP, as an integrator or the mini-program would call it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient


async def get(client: TestClient, url: str, status: int = 200) -> dict:  # type: ignore[type-arg]
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, body
    return body  # type: ignore[no-any-return]


async def test_items_search_answers_colloquial_questions(client: TestClient) -> None:
    body = await get(client, "/api/v1/kb/items?q=二手房过户要带啥")
    top = body["items"][0]
    assert top["code"] == "BDC-0001" and top["name"] == "存量房转移登记" and top["confident"] is True
    assert 0 < top["score"] <= 1


async def test_same_sounding_typos_find_the_item(client: TestClient) -> None:
    # Pinyin input methods make homophone typos: 咔/卡, 包/保, 主/住.
    typos = (("社保咔去哪里办", "SB-0003"), ("低包在哪里申请", "ZH-0006"), ("居主证多久能拿到", "ZH-0001"))
    for question, code in typos:
        top = (await get(client, f"/api/v1/kb/items?q={question}"))["items"][0]
        assert top["code"] == code and top["confident"] is True, (question, top)


async def test_a_correctly_written_word_is_not_read_as_its_homophone(client: TestClient) -> None:
    # 水费 sounds like 税费 (二手房税费 is another item): the word as written wins.
    top = (await get(client, "/api/v1/kb/items?q=买了二手房 水费户名怎么改"))["items"][0]
    assert top["code"] == "ZH-0009" and top["confident"] is True, top


async def test_a_situation_word_does_not_name_a_service(client: TestClient) -> None:
    # "没工作"/"被裁员" describe the person; they must not turn into 公积金离职提取.
    top = (await get(client, "/api/v1/kb/items?q=被裁员了 能领失业保险金吗"))["items"][0]
    assert top["code"] == "SB-0001", top
    top = (await get(client, "/api/v1/kb/items?q=没工作的家庭主妇能交居民养老保险吗"))["items"][0]
    assert top["code"] == "SB-0006", top


async def test_unanswerable_question_is_not_confident(client: TestClient) -> None:
    body = await get(client, "/api/v1/kb/items?q=今天天气怎么样")
    assert all(not item["confident"] for item in body["items"])


async def test_items_of_a_window_are_paged(client: TestClient) -> None:
    first = await get(client, "/api/v1/kb/items?window=公积金&limit=2")
    second = await get(client, "/api/v1/kb/items?window=公积金&limit=2&offset=2")
    assert first["total"] == second["total"] >= 6
    assert len(first["items"]) == 2 and {i["window"] for i in first["items"]} == {"公积金"}
    assert not {i["code"] for i in first["items"]} & {i["code"] for i in second["items"]}


async def test_item_detail_has_the_whole_guide(client: TestClient) -> None:
    item = await get(client, "/api/v1/kb/items/BDC-0001")
    assert item["promised_days"] and item["materials"] and item["steps"] and item["fee"]
    assert any(m["deferrable"] for m in item["materials"]), "婚姻状况证明 may be supplied later"


async def test_bundle_lists_each_document_once(client: TestClient) -> None:
    bundle = await get(client, "/api/v1/kb/bundles/YJS-0001")
    names = [m["name"] for m in bundle["materials"]]
    assert bundle["name"] == "企业开办" and len(bundle["item_names"]) == 6
    assert len(names) == len(set(names))


async def test_policies_by_profile_are_current_and_eligible(client: TestClient) -> None:
    body = await get(client, "/api/v1/kb/policies?scale=小型&taxpayer_type=小规模纳税人&need=减税")
    ids = [p["id"] for p in body["policies"]]
    assert "small-scale-vat-relief" in ids and "vat-small-scale-exempt-2022" not in ids
    assert {p["status"] for p in body["policies"]} == {"current"}
    vat = next(p for p in body["policies"] if p["id"] == "small-scale-vat-relief")
    assert vat["doc_no"] == "财政部 税务总局公告2023年第19号"


async def test_an_expired_policy_says_so(client: TestClient) -> None:
    policy = await get(client, "/api/v1/kb/policies/vat-small-scale-exempt-2022")
    assert policy["status"] == "expired" and policy["valid_until"] == "2022-12-31"


async def test_policy_search_and_domain_filter(client: TestClient) -> None:
    body = await get(client, "/api/v1/kb/policies?q=研发费用加计扣除比例是多少")
    assert body["policies"][0]["id"] == "rd-super-deduction"
    energy = await get(client, "/api/v1/kb/policies?domain=节能减排")
    assert energy["total"] >= 4 and {p["domain"] for p in energy["policies"]} == {"节能减排"}


async def test_bad_parameters_and_unknown_records(client: TestClient) -> None:
    for url in (
        "/api/v1/kb/items?window=火星",
        "/api/v1/kb/items?limit=0",
        "/api/v1/kb/items?limit=abc",
        "/api/v1/kb/policies?scale=巨型",
        "/api/v1/kb/items?q=" + "长" * 201,
    ):
        body = await get(client, url, 400)
        assert body["error"]["code"] == "invalid_parameter"
    for url in ("/api/v1/kb/items/NOPE", "/api/v1/kb/policies/nope", "/api/v1/kb/bundles/NOPE"):
        assert (await get(client, url, 404))["error"]["code"] == "not_found"
