"""Schema checks added with the data layer: ids, notes."""
import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.schema import Judgement, PairwiseChoice, Sample


@pytest.mark.parametrize("cls,d,field", [
    (Judgement, {"sample_id": True, "aspect": "a", "score": 1}, "sample_id"),
    (Judgement, {"sample_id": " ", "aspect": "a", "score": 1}, "sample_id"),
    (Sample, {"prompt": "p", "completion": "c", "id": ["x"]}, "id"),
    (PairwiseChoice, {"sample_a": {"x": 1}, "sample_b": "s", "winner": "a"}, "sample_a"),
    (PairwiseChoice, {"sample_a": "s", "sample_b": "t", "winner": "a", "note": 3}, "note"),
    (PairwiseChoice, {"sample_a": 1, "sample_b": "1", "winner": "a"}, "sample_b"),
])
def test_bad_ids_name_the_field(cls, d, field):
    with pytest.raises(DataError) as err:
        cls.from_dict(d)
    assert err.value.location.field == field


def test_int_ids_become_strings_and_empty_notes_none():
    assert Judgement.from_dict({"sample_id": 7, "aspect": "a", "score": 2}).sample_id == "7"
    choice = PairwiseChoice.from_dict({"sample_a": 1, "sample_b": 2, "winner": "tie", "note": ""})
    assert (choice.sample_a, choice.sample_b, choice.note) == ("1", "2", None)
