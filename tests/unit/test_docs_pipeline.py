"""docs/pipelines.md's "Your own pipeline" example and its test run as written."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.pipeline import load_pipeline

PAGE = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"


def python_blocks() -> list[str]:
    text = PAGE.read_text()
    start = text.index("## Your own pipeline")
    section = text[start : text.index("\n## ", start)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def myapp(tmp_path: Path) -> Iterator[Path]:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    [module] = [block for block in python_blocks() if block.startswith("# myapp/orders.py")]
    (package / "orders.py").write_text(module)
    sys.path.insert(0, str(tmp_path))
    try:
        yield package
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("myapp")]:
            del sys.modules[name]


def test_the_documented_pipeline_and_its_test_run_as_written(myapp: Path) -> None:
    module = importlib.import_module("myapp.orders")
    assert load_pipeline("myapp.orders:pipeline") is module.pipeline
    [test_code] = [block for block in python_blocks() if "run_pipeline(" in block]
    namespace: dict[str, object] = {}
    exec(compile(test_code, str(PAGE), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        assert callable(test)
        test()
