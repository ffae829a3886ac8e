import pytest

from rlhf_eval.errors import DataError
from rlhf_eval.lab.documents import DocumentConfig, read_document
from rlhf_eval.lab.grammar import (ATTRIBUTES, ENTITIES, FILLER, Fact, document_of,
                                   format_prompt, parse_facts, parse_sentence, split_sentences)


def test_every_template_parses_back_to_its_fact():
    for attribute, (templates, values) in ATTRIBUTES.items():
        for t in range(len(templates)):
            for value in values:
                fact = Fact("Mara", attribute, value)
                assert parse_sentence(fact.render(t)) == fact


def test_sentences_that_state_no_fact_parse_to_none():
    for s in [*FILLER, "Mara lives in Atlantis.", "Zed lives in Oslo.", "Mara lives in",
              "mara lives in Oslo.", "Mara lives in Oslo"]:
        assert parse_sentence(s) is None, s


def test_names_and_values_are_distinct_words():
    # a word that were both a name and a value (or two attributes' value) would be ambiguous
    words = list(ENTITIES) + [v for _, vals in ATTRIBUTES.values() for v in vals]
    assert len(set(words)) == len(words)


def test_split_sentences_keeps_a_trailing_fragment():
    assert split_sentences("  Mara owns a cat.   Leo enjoys golf. Leo eats") == [
        "Mara owns a cat.", "Leo enjoys golf.", "Leo eats"]
    assert [f for _, f in parse_facts(" Leo enjoys golf. Leo eats")] == [
        Fact("Leo", "hobby", "golf"), None]


def test_document_round_trips_through_the_prompt():
    doc = "Mara owns a cat. Leo enjoys golf. A cat lives with Mara."
    assert document_of(format_prompt(doc)) == doc
    parsed = read_document(format_prompt(doc))
    assert parsed.key_facts == (Fact("Mara", "pet", "cat"),)
    assert parsed.facts == {Fact("Mara", "pet", "cat"), Fact("Leo", "hobby", "golf")}


@pytest.mark.parametrize("prompt", ["Summarize: Mara owns a cat.\n\nTL;DR:",
                                    format_prompt("Mara owns a cat.") + " extra"])
def test_a_foreign_prompt_is_a_data_error_naming_the_field(prompt):
    with pytest.raises(DataError) as err:
        read_document(prompt)
    assert err.value.location.field == "prompt"


def test_a_document_without_repeated_fact_has_no_key_facts():
    with pytest.raises(DataError, match="repeats none"):
        read_document(format_prompt("Mara owns a cat. Leo enjoys golf."))


def test_generated_documents_mark_key_facts_by_construction(test_lab):
    for ex in test_lab.train[:100]:
        parsed = read_document(ex.prompt)
        assert parsed.key_facts == ex.key_facts          # repeated = key, in order
        assert parsed.facts == set(ex.key_facts) | set(ex.distractor_facts)
        lead = [f for _, f in parse_facts(ex.document)][:len(ex.key_facts)]
        assert lead == list(ex.key_facts)                # and they come first


def test_document_config_rejects_impossible_ranges():
    with pytest.raises(DataError):
        DocumentConfig(key_facts=(3, 2))
    with pytest.raises(DataError):
        DocumentConfig(entities=(1, 1), key_facts=(4, 4), distractor_facts=(3, 3))
