import pytest

from fer.labels import CLASSES, LabelMapper, class_id, parse_mapping


def test_canonical_ids_follow_fer2013_order():
    assert CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert [class_id(c) for c in CLASSES] == list(range(7))


@pytest.mark.parametrize("raw,expected", [
    ("anger", "angry"), ("Sadness", "sad"), ("surprised", "surprise"), ("HAPPINESS", "happy"),
    ("AF", "fear"), ("FE", "fear"), ("DI", "disgust"), ("NE", "neutral"), ("Fearful", "fear"),
])
def test_aliases(raw, expected):
    assert CLASSES[LabelMapper().map(raw)] == expected


def test_numeric_codes_are_per_source():
    from fer.labels import FER2013_IDS, RAFDB_IDS

    m = LabelMapper()
    assert CLASSES[m.map("0", codes=FER2013_IDS)] == "angry"
    assert CLASSES[m.map("1", codes=RAFDB_IDS)] == "surprise"
    assert CLASSES[m.map("7", codes=RAFDB_IDS)] == "neutral"
    assert m.map("3") is None  # a bare number means nothing without a source's table
    assert m.dropped == {"3": 1}


def test_user_mapping_wins_and_drops_are_counted():
    m = LabelMapper(user=parse_mapping(["joy=happy", "0=angry", "Sad=neutral", "contempt=drop"]))
    assert CLASSES[m.map("Joy")] == "happy"
    assert CLASSES[m.map("0")] == "angry"
    assert CLASSES[m.map("sad")] == "neutral"
    assert m.map("contempt") is None and m.map("contempt") is None
    assert m.map("content") is None
    assert m.dropped == {"contempt": 2, "content": 1}


@pytest.mark.parametrize("bad", ["joy", "=happy", "joy=", "joy=elated", "x=9"])
def test_bad_mappings_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError, match="joy=happy|unknown class|outside"):
        parse_mapping([bad])
