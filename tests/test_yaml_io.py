"""bot.yaml_io: the C parser where there is one, the same results and errors as ``yaml.safe_load``."""
from __future__ import annotations

import pytest
import yaml

from bot import yaml_io
from bot.settings import ROOT

SAMPLE = """\
- text: "off"
  label: lookalike
  context: [hola, '¿estás bien?']
- text: tomé todas las pastillas 💊
  n: 3
  when: 2019-05-01
"""


def test_the_c_parser_is_used_when_pyyaml_has_it():
    assert yaml.__with_libyaml__, "the lock's PyYAML wheel ships libyaml"
    assert yaml_io.SafeLoader is yaml.CSafeLoader


@pytest.mark.parametrize("text", [SAMPLE, "", "a: [1, 2.5, null, true]\n", "x: 'yes'\ny: yes\n"])
def test_same_result_as_safe_load(text):
    assert yaml_io.safe_load(text) == yaml.safe_load(text)


def test_the_project_suites_read_the_same():
    for path in (ROOT / "tests" / "crisis" / "pairs.yml", ROOT / "data" / "crisis" / "everyday.yml"):
        text = path.read_text(encoding="utf-8")
        assert yaml_io.safe_load(text) == yaml.safe_load(text), path


def test_a_syntax_error_names_its_line():
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yaml_io.safe_load("entries:\n- text: ok\n- text: [unclosed\n")
    mark = caught.value.problem_mark or caught.value.context_mark
    assert mark is not None and mark.line + 1 >= 3


def test_python_tags_are_refused():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml_io.safe_load("!!python/object/apply:os.system ['true']\n")
