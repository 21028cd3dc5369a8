"""The docs test's own rules: how examples are read from Markdown, matched and run. If these
broke, drifted docs could pass unnoticed."""

from __future__ import annotations

import pytest

from tests.helpers.docs_examples import (
    Example,
    ExampleSyntaxError,
    examples_in,
    matches,
    mismatch,
    parse_console,
    run_example,
)
from tests.helpers.env import EXAMPLE_PROFILES


def test_dots_line_matches_any_number_of_lines():
    assert matches(["a", "...", "z"], ["a", "z"])
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["...", "z"], ["z"])
    assert not matches(["a", "...", "z"], ["a", "b"])
    assert not matches(["a", "...", "z"], ["b", "z"])


def test_ellipsis_matches_text_within_one_line_only():
    assert matches(["v3:…  queued"], ["v3:Zp1cX  queued"])
    assert matches(["port …"], ["port "])
    assert not matches(["v3:…  queued"], ["v3:Zp1cX  failed"])
    assert not matches(["a…"], ["ab", "c"])


def test_everything_else_is_literal():
    assert matches(["x.*y [CP101]"], ["x.*y [CP101]"])
    assert not matches(["x.*y"], ["xaay"])
    assert not matches(["a"], ["a", "b"])
    assert not matches(["a", "b"], ["a"])


def test_trailing_blank_lines_and_spaces_do_not_count_but_inner_blank_lines_do():
    assert matches(["a  ", ""], ["a", "", ""])
    assert not matches(["a", "b"], ["a", "", "b"])


def test_commands_continuations_heredocs_and_exit_codes():
    steps = parse_console(
        [
            "$ callprofile validate \\",
            "    --strict",
            "out 1",
            "",
            "$ cat > x.yaml <<'EOF'",
            "a: 1",
            "$ not a command inside the here-document",
            "EOF",
            "$ false",
            "[exit 1]",
            "",
        ],
        10,
    )
    assert [s.command for s in steps] == [
        "callprofile validate \\\n    --strict",
        "cat > x.yaml <<'EOF'\na: 1\n$ not a command inside the here-document\nEOF",
        "false",
    ]
    assert [s.line for s in steps] == [10, 14, 18]
    assert [s.expected for s in steps] == [["out 1"], [], []]
    assert [s.exit_code for s in steps] == [0, 0, 1]


def test_a_block_must_start_with_a_command():
    with pytest.raises(ExampleSyntaxError):
        parse_console(["output without a command"], 1)
    with pytest.raises(ExampleSyntaxError):
        parse_console(["$ cat <<EOF", "never ends"], 1)


def test_only_console_blocks_are_examples(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```sh\n$ rm -rf /\n```\n\n```console\n$ echo hi\nhi\n```\n\n"
        "- item\n\n  ```console\n  $ echo indented\n  indented\n  ```\n",
        encoding="utf-8",
    )
    found = examples_in(page, tmp_path)
    assert [e.name for e in found] == ["page.md:7", "page.md:14"]
    assert [s.command for e in found for s in e.steps] == ["echo hi", "echo indented"]
    assert found[1].steps[0].expected == ["indented"]


def test_blocks_of_one_session_run_together_in_file_order(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```console session=t\n$ echo 1\n1\n```\n"
        "```console\n$ echo alone\nalone\n```\n"
        "```console session=t\n$ echo 2\n2\n```\n",
        encoding="utf-8",
    )
    found = examples_in(page, tmp_path)
    assert [e.name for e in found] == ["page.md:1", "page.md:5"]
    assert [[s.command for s in e.steps] for e in found] == [["echo 1", "echo 2"], ["echo alone"]]
    assert [s.line for s in found[0].steps] == [2, 10]


def _run(tmp_path, lines: list[str]):
    example = Example("t.md", 1, parse_console(lines, 2))
    return example, run_example(example, tmp_path, EXAMPLE_PROFILES, timeout=60)


def test_runs_in_one_shell_in_a_copy_of_the_profiles_with_a_clean_environment(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", "KEY-from-the-developer")
    monkeypatch.setenv("CALLPROFILE_DIR", "/nowhere")
    example, outcomes = _run(
        tmp_path,
        [
            "$ echo ${TELNYX_API_KEY-unset} ${CALLPROFILE_DIR-unset}",
            "unset unset",
            "$ ls profiles/appointment-reminder.yaml && mkdir sub && cd sub && export X=1",
            "profiles/appointment-reminder.yaml",
            "$ pwd | sed 's|.*/||'; echo $X",
            "sub",
            "1",
            "$ callprofile --version",
            "callprofile, version …",
            "$ echo out; echo err >&2; exit 3",
            "out",
            "err",
            "[exit 3]",
        ],
    )
    assert [mismatch(example, o) for o in outcomes] == [None] * 5


def test_a_wrong_output_or_exit_code_is_reported_with_its_line(tmp_path):
    example, outcomes = _run(tmp_path, ["$ echo actual", "expected", "$ false", "$ true"])
    first, second, third = (mismatch(example, o) for o in outcomes)
    assert first is not None and first.startswith("t.md:2: ")
    assert "    actual" in first and "    expected" in first
    assert second is not None and "actual (exit 1)" in second
    assert third is None


def test_the_last_command_keeps_its_exit_code(tmp_path):
    example, outcomes = _run(tmp_path, ["$ true", "$ false", "[exit 1]"])
    assert [o.exit_code for o in outcomes] == [0, 1]
    assert [mismatch(example, o) for o in outcomes] == [None, None]
