"""Genotype type: DARTS constants, JSON round-trip, validation, simplification."""
import json

import pytest

from gsnas import DARTS_V1, DARTS_V2, Genotype, get_genotype


def test_darts_v2_is_the_published_cell():
    assert DARTS_V2.is_standard
    assert DARTS_V2.normal[3] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    assert DARTS_V2.reduce[0] == (("max_pool_3x3", 0), ("max_pool_3x3", 1))
    assert DARTS_V1.reduce[3] == (("skip_connect", 2), ("avg_pool_3x3", 0))
    assert DARTS_V2.num_ops() == 16


@pytest.mark.parametrize("geno", [DARTS_V1, DARTS_V2,
                                  Genotype([[("sep_conv_3x3", 0)], [], [("noise", 2), ("skip_connect", 0)],
                                            [("dil_conv_5x5", 4)]], [2, 4, 5], DARTS_V2.reduce, [2, 3, 4, 5])])
def test_json_round_trip(geno, tmp_path):
    assert Genotype.from_json(geno.to_json()) == geno
    geno.save(tmp_path / "g.json")
    assert get_genotype(tmp_path / "g.json") == geno


def test_difference_counts_the_operations_in_one_genotype_only():
    assert DARTS_V2.difference(DARTS_V2) == 0
    brute = sum(1 for a, b in ((DARTS_V1, DARTS_V2), (DARTS_V2, DARTS_V1)) for kind in ("normal", "reduce")
                for i, node in enumerate(a.cell(kind)) for p in node if p not in b.cell(kind)[i])
    assert DARTS_V1.difference(DARTS_V2) == DARTS_V2.difference(DARTS_V1) == brute > 0
    one_less = Genotype(DARTS_V2.normal[:3] + (DARTS_V2.normal[3][:1],), [2, 3, 4, 5], DARTS_V2.reduce, [2, 3, 4, 5])
    assert DARTS_V2.difference(one_less) == 1


def test_loads_darts_flat_format():
    flat = {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
                       ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
            "normal_concat": [2, 3, 4, 5],
            "reduce": [list(p) for node in DARTS_V2.reduce for p in node], "reduce_concat": [2, 3, 4, 5]}
    assert Genotype.from_json(json.dumps(flat)) == DARTS_V2


@pytest.mark.parametrize("text, message", [
    ("{not json", "malformed"),
    ("[1, 2]", "must be an object"),
    ('{"normal": []}', "missing \\['reduce'\\]"),
    (json.dumps({**DARTS_V2.to_dict(), "normal_concat": [1, 2]}), "must be distinct nodes in 2..5"),
    (json.dumps({**DARTS_V2.to_dict(), "normal": [[["sep_conv_3x3", 3]], [], [], []]}), "input 3 out of range"),
    (json.dumps({**DARTS_V2.to_dict(), "reduce": [[["max_pool_3x3", 0], ["max_pool_3x3", 0]], [], [], []]}),
     "duplicate"),
])
def test_malformed_genotype_json_is_one_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        Genotype.from_json(text)


def test_get_genotype_errors_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="unknown genotype 'DARTS_V3'; valid: DARTS_V1, DARTS_V2"):
        get_genotype("DARTS_V3")
    with pytest.raises(ValueError, match="does not exist"):
        get_genotype(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json.*malformed"):
        get_genotype(tmp_path / "bad.json")


def test_get_genotype_from_json_text_and_dict():
    assert get_genotype(DARTS_V1.to_json()) == DARTS_V1
    assert get_genotype(DARTS_V1.to_dict()) == DARTS_V1
    with pytest.raises(ValueError, match="missing \\['reduce'\\]"):
        get_genotype({"normal": []})
    with pytest.raises(ValueError, match="malformed"):
        get_genotype("{normal")
    with pytest.raises(ValueError, match="unknown genotype 5; valid"):
        get_genotype(5)


def test_simplify_removes_dead_nodes_but_keeps_noise():
    geno = Genotype([[], [("sep_conv_3x3", 2), ("noise", 2)], [("skip_connect", 3), ("sep_conv_3x3", 0)],
                     [("sep_conv_3x3", 2)]], [2, 3, 4, 5], DARTS_V2.reduce, [2, 3, 4, 5])
    s = geno.simplify()
    assert s.normal == ((), (("noise", 2),), (("skip_connect", 3), ("sep_conv_3x3", 0)), ())
    assert s.normal_concat == (3, 4)
    assert s.reduce == DARTS_V2.reduce


def test_str_is_readable():
    text = str(DARTS_V2)
    assert "normal: 2 <- sep_conv_3x3(0) + sep_conv_3x3(1)" in text and "reduce:" in text
