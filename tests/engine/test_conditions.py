"""Conditional triggers: every operator, type mismatches, missing fields, unicode, groups and validation."""

from __future__ import annotations

import random
import time

import pytest

from app.engine.conditions import (
    EVENT_BUDGET,
    MAX_MATCHED_TEXT,
    Budget,
    ConditionError,
    OverBudget,
    parse,
    repetition,
)


def one(op: str, value=None, field: str = "f"):
    return parse({"rules": [{"field": field, "op": op, "value": value}]})


CASES = [
    # op, rule value, submitted value, matches?
    ("equals", "Sales", "sales", True),
    ("equals", "Sales", "Sales team", False),
    ("equals", 26, 26.0, True),
    ("equals", "26", 26, True),
    ("equals", 10, "ten", False),
    ("equals", True, True, True),
    ("equals", "b", ["a", "b"], True),
    ("equals", "x", None, False),
    ("equals", "straße", "STRASSE", True),  # casefold
    ("equals", "é", "e\u0301", True),  # NFC: composed and decomposed forms are the same text
    ("not_equals", "Sales", "Support", True),
    ("not_equals", "Sales", "sales", False),
    ("not_equals", "x", None, True),
    ("contains", "urgent", "This is URGENT!", True),
    ("contains", "urgent", "calm", False),
    ("contains", "2", 123, True),
    ("contains", "日本", "東京 日本", True),
    ("starts_with", "+44", "+44 20 7946", True),
    ("starts_with", "+44", "0044", False),
    ("in", ["de", "fr"], "FR", True),
    ("in", ["de", "fr"], "es", False),
    ("in", [1, 2, 3], "2", True),
    ("in", ["x"], None, False),
    ("gt", 10000, 12000, True),
    ("gt", 10000, "12,000", True),
    ("gt", 10000, 10000, False),
    ("gt", 10000, "lots", False),  # type mismatch never matches
    ("gt", "10000", 9999.5, False),
    ("gte", 10000, 10000, True),
    ("lt", 5, 4.99, True),
    ("lt", 5, True, False),  # booleans are not numbers
    ("lte", 5, 5, True),
    ("gt", "2026-01-01", "2026-03-15", True),
    ("lt", "2026-01-01", "2025-12-31T23:00:00Z", True),
    ("gt", "2026-01-01", "yesterday", False),
    ("is_empty", None, "", True),
    ("is_empty", None, "   ", True),
    ("is_empty", None, None, True),
    ("is_empty", None, [], True),
    ("is_empty", None, 0, False),
    ("is_not_empty", None, "x", True),
    ("is_not_empty", None, None, False),
    ("matches", r"^[^@]+@example\.com$", "ann@example.com", True),
    ("matches", r"^[^@]+@example\.com$", "ann@example.org", False),
    ("matches", r"\d{3}", 12345, True),
    ("matches", r"(?i)ünïcode", "ÜNÏCODE", True),
]


@pytest.mark.parametrize(("op", "value", "submitted", "expected"), CASES)
def test_each_operator_compares_as_a_form_owner_expects(op, value, submitted, expected):
    assert one(op, value).matches({"f": submitted}) is expected


@pytest.mark.parametrize("op", ["equals", "contains", "starts_with", "in", "gt", "lt", "matches"])
def test_a_missing_field_matches_no_comparison(op):
    value = {"in": ["a"], "gt": 1, "lt": 1, "matches": "a"}.get(op, "a")
    assert one(op, value).matches({"other": "a"}) is False


def test_a_missing_field_is_empty_and_not_equal():
    assert one("is_empty").matches({}) is True
    assert one("not_equals", "a").matches({}) is True


def test_all_and_any_combine_with_one_level_of_groups():
    cond = parse(
        {
            "match": "all",
            "rules": [
                {"field": "budget", "op": "gt", "value": 10000},
                {
                    "match": "any",
                    "rules": [
                        {"field": "country", "op": "equals", "value": "DE"},
                        {"field": "country", "op": "equals", "value": "FR"},
                    ],
                },
            ],
        }
    )
    assert cond.matches({"budget": 20000, "country": "fr"})
    assert not cond.matches({"budget": 20000, "country": "es"})
    assert not cond.matches({"budget": 500, "country": "de"})


def test_newly_matching_on_edit_admits_only_a_change_into_the_conditions():
    cond = parse({"rules": [{"field": "budget", "op": "gt", "value": 10}], "on_edit": "newly_matching"})
    assert cond.admits("response.edited", {"budget": 20}, {"budget": 5})
    assert not cond.admits("response.edited", {"budget": 30}, {"budget": 20})
    assert not cond.admits("response.edited", {"budget": 5}, {"budget": 20})
    assert cond.admits("form.submitted", {"budget": 30}, None)


def test_always_on_edit_admits_every_matching_edit():
    cond = parse({"rules": [{"field": "budget", "op": "gt", "value": 10}]})
    assert cond.admits("response.edited", {"budget": 30}, {"budget": 20})


def test_no_rules_means_always():
    assert parse(None) is None
    assert parse({"match": "all", "rules": []}) is None


@pytest.mark.parametrize(
    ("raw", "key", "says"),
    [
        ({"rules": [{"field": "f", "op": "like", "value": "a"}]}, "rules.0.op", "Must be one of"),
        ({"rules": [{"field": "", "op": "equals", "value": "a"}]}, "rules.0.field", "Name a field"),
        ({"rules": [{"field": "f", "op": "gt", "value": "big"}]}, "rules.0.value", "number or a date"),
        ({"rules": [{"field": "f", "op": "in", "value": "a"}]}, "rules.0.value", "list"),
        ({"rules": [{"field": "f", "op": "matches", "value": "(a)\\1"}]}, "rules.0.value", "backreferences"),
        ({"rules": [{"field": "f", "op": "matches", "value": "a" * 501}]}, "rules.0.value", "500"),
        ({"match": "some", "rules": []}, "match", "'all' or 'any'"),
        ({"rules": [], "on_edit": "sometimes"}, "on_edit", "newly_matching"),
        ({"rules": [{"rules": [{"rules": []}]}]}, "rules.0.rules.0.rules", "nested"),
        ({"rules": "x"}, "rules", "list"),
        ("x", "conditions", "object"),
    ],
)
def test_a_bad_condition_is_refused_with_the_reason(raw, key, says):
    with pytest.raises(ConditionError) as err:
        parse(raw)
    assert says in " ".join(err.value.messages[key])


def test_a_rule_on_a_field_the_form_does_not_have_is_refused_by_name():
    with pytest.raises(ConditionError) as err:
        parse({"rules": [{"field": "budjet", "op": "gt", "value": 1}]}, field_names=["budget", "email"])
    assert err.value.messages == {"rules.0.field": ["The form has no field 'budjet'."]}


def test_a_pattern_cannot_stall_on_a_hostile_value():
    cond = one("matches", "(a+)+$")  # catastrophic backtracking for a backtracking engine
    started = time.monotonic()
    assert cond.matches({"f": "a" * 4000 + "!"}) is False
    cond.matches({"f": "a" * 50_000 + "!"})
    assert time.monotonic() - started < 1.0


def test_a_pattern_looks_at_the_first_4096_characters_of_a_value():
    tail = one("matches", "needle")
    assert tail.matches({"f": "x" * (MAX_MATCHED_TEXT - 6) + "needle"}) is True
    assert tail.matches({"f": "x" * MAX_MATCHED_TEXT + "needle"}) is False
    assert tail.matches({"f": ["x" * MAX_MATCHED_TEXT, "needle"]}) is False


HOSTILE = [
    # the reported one: counted repetition that compiles to ~12,000 steps
    r"(?:[\w\s]{250}){4}x|(?:[\w\s]{249}){4}y",
    r"(?:(?:.{10}){10}){3}z",  # nested repetition, small numbers
    r"[\w\s]{201}",  # one repetition over the limit
    r"a{100}b{60}c{50}",  # several that add up
    r"(?:\pL{20}|\d{20}){9}",  # escapes with braces inside a repeated group
    r".{125}x",  # small repetition, large program (a dot is several steps in UTF-8)
    r"(?i)[a-z\x{e9}-\x{ff}]{90}ok|[[:alpha:]]{90}no",
    r"\PL{70}\p{Greek}{70}",
]


@pytest.mark.parametrize("pattern", HOSTILE)
def test_a_pattern_that_compiles_to_a_large_program_or_repeats_a_lot_is_refused(pattern):
    with pytest.raises(ConditionError) as err:
        parse(
            {
                "rules": [
                    {"field": "f", "op": "equals", "value": 1},
                    {"field": "f", "op": "matches", "value": pattern},
                ]
            }
        )
    (says,) = err.value.messages["rules.1.value"]
    assert "repetitions" in says or "too complex" in says


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$",
        r"\d{3}-\d{4}",
        r"(?i)urgent|asap",
        r"^.{1,100}$",
        r"^\+?[0-9 ()-]{7,20}$",
        r"\Q{999}\E",
        r"[{]{3}",
        r"(?:\p{Greek}{2}\s?){5}",
    ],
)
def test_ordinary_patterns_are_accepted(pattern):
    assert parse({"rules": [{"field": "f", "op": "matches", "value": pattern}]}) is not None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\d{3}-\d{4}", 7),
        (r"(?:a{250}){4}", 1004),
        (r"(a(b{3}){2}){5}", 45),
        (r"a{2,}", 2),
        (r"a{2,9}", 9),
        (r"\Qa{99}\E", 0),
        (r"[}{]{3}", 3),
        (r"\x{41}{5}", 5),
        (r"a{,5}", 0),
        (r"x*y+z?", 0),
    ],
)
def test_counted_repetition_adds_bounds_and_multiplies_nested_ones(pattern, expected):
    assert repetition(pattern) == expected


def test_a_condition_set_has_at_most_50_rules_groups_included():
    rule = {"field": "f", "op": "equals", "value": 1}
    groups = {"rules": [{"match": "any", "rules": [rule] * 25}, {"match": "any", "rules": [rule] * 25}, rule]}
    with pytest.raises(ConditionError) as err:
        parse(groups)
    assert "At most 50 rules in all" in err.value.messages["rules"][0]
    assert parse({"rules": [{"match": "any", "rules": [rule] * 25}, *[rule] * 25]}) is not None


# accepted, yet among the costliest: ~10 ms each on 4 KiB of a/b text; one per rule (RE2 caches per pattern)
HEAVY_PATTERNS = [rf"[\w\s]*a[\w\s]{{{n}}}c" for n in range(111, 161)]
_rng = random.Random(0)
AB_TEXT = "".join(_rng.choice("ab") for _ in range(60_000))
HEAVY = [  # "any" of rules that do not match: every rule is evaluated
    (
        {"match": "any", "rules": [{"field": "f", "op": "matches", "value": p} for p in HEAVY_PATTERNS]},
        {"f": AB_TEXT},
    ),
    ({"rules": [{"field": "f", "op": "in", "value": [str(i) for i in range(200)]}]}, {"f": ["x"] * 100_000}),
    ({"rules": [{"field": "f", "op": "not_equals", "value": "y"}] * 50}, {"f": ["x"] * 100_000}),
    (
        {"match": "any", "rules": [{"field": "f", "op": "starts_with", "value": "zz"}] * 50},
        {"f": ["É"] * 200_000},
    ),
    (
        {"match": "any", "rules": [{"field": "f", "op": "matches", "value": "zz"}] * 50},
        {"f": ["É"] * 200_000},
    ),
]


@pytest.mark.parametrize(("raw", "data"), HEAVY)
def test_accepted_but_heavy_conditions_stop_at_their_cpu_budget(raw, data):
    cond = parse(raw)
    budget = Budget()
    with pytest.raises(OverBudget):
        cond.matches(data, budget)
    # checked between rules and every few list items: it overruns by at most one rule's bounded cost
    assert budget.spent < EVENT_BUDGET + 0.1


def test_ordinary_conditions_on_a_large_submission_stay_well_inside_the_budget():
    raw = {
        "rules": [
            {"field": "f", "op": "matches", "value": r"^[a-z0-9.]+@example\.com$"},
            {"field": "g", "op": "in", "value": ["a", "b", "c"]},
            {"field": "h", "op": "contains", "value": "urgent"},
        ]
    }
    data = {"f": "x" * 60_000, "g": ["z"] * 1000, "h": "lorem ipsum " * 5000}
    budget = Budget()
    assert parse(raw).matches(data, budget) is False
    assert budget.spent < EVENT_BUDGET / 4
