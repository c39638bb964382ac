"""``-iL`` target files (probescan.targets.files)."""

from __future__ import annotations

from pathlib import Path

from probescan.targets import iter_hosts, read_target_file
from tests.targets.helpers import error_of, fake_resolve

# --------------------------------------------------------------------------- -iL files


def test_target_file_allows_comments_blank_lines_and_several_specs_per_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(
        "# lab hosts\n"
        "\n"
        "192.0.2.1 192.0.2.2   # two on one line\n"
        "   10.0.0.0/30\n"
        "#192.0.2.99\n"
        "web.example\t2001:db8::1\n",
        encoding="utf-8",
    )
    specs = read_target_file(path)
    assert specs == ["192.0.2.1", "192.0.2.2", "10.0.0.0/30", "web.example", "2001:db8::1"]
    assert len(list(iter_hosts(specs, resolve=fake_resolve))) == 8


def test_target_file_accepts_str_path(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("192.0.2.1\n", encoding="utf-8")
    assert read_target_file(str(path)) == ["192.0.2.1"]


def test_empty_target_file_gives_no_specs(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# nothing here\n\n", encoding="utf-8")
    assert read_target_file(path) == []


def test_missing_target_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    assert error_of(read_target_file, path) == (
        f"bad target file '{path}': No such file or directory"
    )


def test_directory_as_target_file_names_it(tmp_path: Path) -> None:
    assert f"'{tmp_path}'" in error_of(read_target_file, tmp_path)


def test_binary_target_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"192.0.2.1\n\xff\xfe\n")
    assert error_of(read_target_file, path).startswith(f"bad target file '{path}': not UTF-8")


def test_bad_token_from_target_file_names_the_token(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("192.0.2.1\n192.0.2.256\n", encoding="utf-8")
    assert "'192.0.2.256'" in error_of(iter_hosts, read_target_file(path), (), fake_resolve)
