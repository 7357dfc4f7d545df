"""The built-in classifier: compiled predictions equal sklearn's, the model cache, the Rasa export."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.text import normalise
from core.yamlfile import load_yaml
from intents.builtin import CHAR_NGRAMS, IntentModel, char_ngrams, fit_pipeline, load_or_train, train
from intents.export import export_rasa_project
from intents.training import parse_annotated, read_nlu_file, read_training_data
from policy_kb.kb import KnowledgeBase
from policy_kb.loader import load_vocabulary, load_yaml_dir

TEST_SET = Path(__file__).resolve().parents[2] / "bench" / "data" / "nlu_test.yml"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.build(load_yaml_dir(), load_vocabulary())


def test_training_data_covers_every_intent_with_30_examples() -> None:
    from collections import Counter

    counts = Counter(e.intent for e in read_training_data())
    expected = {"greet", "goodbye", "thanks", "help", "ask_policy", "ask_materials", "ask_conditions",
                "ask_time_limit", "ask_location", "ask_fee", "ask_process", "ask_online", "book_appointment",
                "request_assisted_service", "precheck", "complain", "ask_progress", "evaluate", "request_human",
                "end_human", "affirm", "deny", "cancel", "choose_option", "provide_info", "out_of_scope", "chitchat",
                "ask_office_hours", "urge_case"}
    assert set(counts) == expected
    assert min(counts.values()) >= 30


def test_compiled_probabilities_equal_sklearn(kb: KnowledgeBase) -> None:
    pipeline = fit_pipeline(read_training_data(), kb.tokenizer)
    model = IntentModel.from_pipeline(pipeline, kb.tokenizer)
    texts = [normalise(e.text) for e in read_nlu_file(TEST_SET)[:100]] + ["", "   ", "ＡＢＣ 1 22 333", "a  b\tc"]
    reference = pipeline.predict_proba(texts)
    ours = np.array([model.proba(t) for t in texts])
    assert np.abs(reference - ours).max() < 1e-9
    assert model.labels == tuple(pipeline.classes_)


def test_character_ngrams_equal_sklearn_char_wb() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    sklearn_ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS).build_analyzer()
    texts = [e.text for e in read_training_data()] + ["", " ", "a", "ab  cd\n e", "ＡＢ ｃ", "二手房 过户\t要啥"]
    for text in texts:
        assert char_ngrams(text) == sklearn_ngrams(text), text


def _modules_of_a_fresh_server(cache_dir: Path, packages: tuple[str, ...]) -> list[str]:
    """Start the NLU in a fresh interpreter, as a worker does, and list its modules of these packages."""
    script = (
        "import sys; from pathlib import Path\n"
        "from intents.builtin import load_or_train\n"
        "from intents.training import read_training_data\n"
        "from core.text import Tokenizer\n"
        f"model = load_or_train(read_training_data(), Tokenizer(), ['甲'], Path({str(cache_dir)!r}))\n"
        "assert model.rank('二手房过户要带啥')[0][0] == 'ask_materials', model.rank('二手房过户要带啥')[:3]\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return list(ast.literal_eval(result.stdout.strip()))


def test_running_a_cached_model_does_not_import_sklearn(tmp_path: Path, kb: KnowledgeBase) -> None:
    load_or_train(read_training_data(), kb.tokenizer, ["甲"], tmp_path)
    # A worker starting on a cached model: scikit-learn (~100 MB) stays out, and scipy with it.
    assert _modules_of_a_fresh_server(tmp_path, ("sklearn", "scipy")) == []


@pytest.mark.skipif(sys.platform != "linux", reason="training runs in a forked child on Linux only")
def test_a_first_start_trains_without_importing_sklearn_into_the_server(tmp_path: Path) -> None:
    # An empty model cache, as a new install's first `yichuang serve`: the model is trained all the same.
    assert _modules_of_a_fresh_server(tmp_path, ("sklearn",)) == []
    assert len(list(tmp_path.glob("nlu-*.pkl"))) == 1  # and the next start loads it


def test_held_out_accuracy_is_at_least_80_percent(kb: KnowledgeBase) -> None:
    model = train(read_training_data(), kb.tokenizer)
    test = read_nlu_file(TEST_SET)
    right = sum(model.rank(e.text)[0][0] == e.intent for e in test)
    assert right / len(test) >= 0.80, right / len(test)


def test_model_is_cached_by_content(tmp_path: Path, kb: KnowledgeBase) -> None:
    examples = read_training_data()
    first = load_or_train(examples, kb.tokenizer, ["甲"], tmp_path)
    cached = list(tmp_path.glob("nlu-*.pkl"))
    assert len(cached) == 1
    again = load_or_train(examples, kb.tokenizer, ["甲"], tmp_path)
    assert again.rank("二手房过户要带啥") == first.rank("二手房过户要带啥")
    load_or_train(examples[:-1], kb.tokenizer, ["甲"], tmp_path)  # other data: retrained, old file replaced
    assert len(list(tmp_path.glob("nlu-*.pkl"))) == 1 and list(tmp_path.glob("nlu-*.pkl")) != cached


def test_annotations_round_trip() -> None:
    example = parse_annotated('办[护照](item)，电话[13900000000](phone)，[小厂]{"entity": "enterprise_scale", '
                              '"value": "小型"}', "x")
    assert example.text == "办护照，电话13900000000，小厂"
    assert [(a.entity, a.value) for a in example.entities] == [("item", "护照"), ("phone", "13900000000"),
                                                               ("enterprise_scale", "小型")]


def test_rasa_export_has_examples_lookups_and_synonyms(tmp_path: Path, kb: KnowledgeBase) -> None:
    counts = export_rasa_project(tmp_path, read_training_data(), kb)
    config = load_yaml(tmp_path / "config.yml")
    assert config["language"] == "zh"
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == "JiebaTokenizer" and "DIETClassifier" in names
    nlu = load_yaml(tmp_path / "data" / "nlu.yml")["nlu"]
    intents = [b for b in nlu if "intent" in b]
    assert len(intents) == counts["intents"] == 29
    lookups = {b["lookup"]: b["examples"] for b in nlu if "lookup" in b}
    assert "- 二手房过户\n" in lookups["item"]
    synonyms = {b["synonym"]: b["examples"] for b in nlu if "synonym" in b}
    assert "- 二手房过户\n" in synonyms["存量房转移登记"]
    assert sum(e.count("- ") for e in (b["examples"] for b in intents)) == len(read_training_data())
    assert (tmp_path / "domain.yml").exists() and (tmp_path / "jieba_userdict" / "kb.txt").exists()


def test_a_record_numbers_digits_do_not_sway_the_intent(kb: KnowledgeBase) -> None:
    """On 23 November every new case number had 20261123 in it, as a progress example does, and a rating
    button's "评价 BBC20261123-0001 2" was read as a progress query."""
    model = train(read_training_data(), kb.tokenizer)
    for template, intent in (("评价 {} 2", "evaluate"), ("我要给{}这件事打个差评", "evaluate"),
                             ("{}？？", "ask_progress"), ("查一下{}的进度", "ask_progress")):
        readings = {tuple(model.rank(template.format(number))) for number in
                    ("BBC20261123-0001", "BBC20261122-0003", "gd20270101-0042", "ＢＢＣ２０２６１１２３－０００１")}
        assert len(readings) == 1, template  # the same probabilities whatever the number
        assert readings.pop()[0][0] == intent, template


def test_a_kept_short_parse_reads_days_against_the_day_it_is_asked(kb: KnowledgeBase) -> None:
    """Short messages' parses are kept; "明天" said again the next day is that day's tomorrow."""
    from datetime import date, timedelta

    from intents.builtin import BuiltinNLU
    from intents.commands import CommandMatcher
    from intents.entities import EntityExtractor, Gazetteer

    extractor = EntityExtractor(Gazetteer.from_kb(kb))
    today = [date(2026, 11, 24)]
    nlu = BuiltinNLU(train(read_training_data(), kb.tokenizer), CommandMatcher.from_yaml(), lambda: extractor,
                     0.0, lambda: today[0])

    def dates(text: str) -> list[str]:
        return [e.value for e in nlu.parse_sync(text).entities if e.entity == "date"]

    assert dates("明天去") == dates("明天去") == ["2026-11-25"]
    today[0] += timedelta(days=1)
    assert dates("明天去") == ["2026-11-26"]
    assert nlu.parse_sync("取消").intent == "cancel"
    long_question = "我们是做机械加工的小厂，有啥优惠政策？"
    assert nlu.parse_sync(long_question) == nlu.parse_sync(long_question)
