import pytest

from core.errors import ValidationError
from core.validators import (make_credit_code, region_name, validate_credit_code, validate_project_code,
                             validate_region)


def test_a_published_credit_code_passes_its_check_character():
    # 91350100M000100Y43 is the layout of a real Fuzhou code; the check character is computed by GB 32100-2015.
    code = make_credit_code("91350100M000100Y4")
    assert validate_credit_code(code.lower()) == code


@pytest.mark.parametrize("code, words", [
    ("91350100M000100Y4", "18位"),
    ("91350100M000100Y4I", "非法字符"),
])
def test_malformed_credit_codes_are_named(code, words):
    with pytest.raises(ValidationError) as err:
        validate_credit_code(code)
    assert words in err.value.message and err.value.field == "credit_code"


def test_a_wrong_check_character_says_which_is_expected():
    good = make_credit_code("91350900MA2Y00101")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ValidationError) as err:
        validate_credit_code(wrong)
    assert f"应为“{good[17]}”" in err.value.message


def test_project_code_format_follows_the_example():
    assert validate_project_code("E3504219400202007001") == "E3504219400202007001"
    for bad in ("3504219400202007001", "E350421940020201300", "E9999999400202007001", "E35042194002020130001"):
        with pytest.raises(ValidationError):
            validate_project_code(bad)


def test_regions_are_gbt2260_codes_with_names():
    assert validate_region("350902") == "350902"
    assert region_name("350902") == "福建省宁德市蕉城区"
    with pytest.raises(ValidationError):
        validate_region("359999")
