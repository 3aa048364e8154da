"""The files the commands write (bot/files.py): the operating system's errors in the reader's
language with what to do, and the rules for ``-o`` (extension, an existing file, ``-``), the same
for ``duban export``, ``chart`` and ``ics``."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from bot.configuration import FAILED, USAGE, CliError
from bot.files import (
    CALENDAR,
    CHART,
    LEDGER,
    OutputKind,
    check_writable,
    output_target,
    write_output,
)
from bot.i18n import translator
from bot.oserrors import listen_error, os_error_text

ZH = translator("zh_Hans")
EN = translator("en")
SYSTEM_WORDS = ("Permission denied", "No such file", "No space left", "Read-only file system",
                "Is a directory", "Not a directory", "File exists", "Errno")


def _error(number: int, path: Path) -> OSError:
    return OSError(number, os.strerror(number), str(path))


# -- the system's errors in the reader's words ---------------------------------------------
def test_permission_denied_names_the_folder_its_owner_the_user_and_the_fix(
        tmp_path: Path) -> None:
    """The tester's case: 无法写入 …: [Errno 13] Permission denied, in a Chinese sentence."""
    target = tmp_path / "out.xlsx"
    text = os_error_text(ZH, _error(errno.EACCES, target))
    assert text.startswith(f"无法写入 {target}：用户 ")
    assert f"无权写入文件夹 {tmp_path}（所有者 " in text and "chown 或 chmod" in text
    assert not any(words in text for words in SYSTEM_WORDS), text
    english = os_error_text(EN, _error(errno.EACCES, target))
    assert f"may not write in {tmp_path} (it belongs to " in english
    assert "ask the owner or an administrator" in english


def test_operation_not_permitted_on_an_existing_file_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "chart.png"
    target.write_bytes(b"old")
    text = os_error_text(ZH, _error(errno.EPERM, target))
    assert f"无权写入文件 {target}" in text and "Operation not permitted" not in text
    read = os_error_text(EN, _error(errno.EACCES, target), action="read")
    assert read.startswith(f"Cannot read {target}: user ") and "may not read" in read


def test_a_missing_folder_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "2026" / "ledger.xlsx"
    text = os_error_text(ZH, _error(errno.ENOENT, target))
    assert text == (f"无法写入 {target}：文件夹 {target.parent} 不存在。请先创建（mkdir -p "
                    f"{target.parent}），或指定已有文件夹中的文件。")
    assert "does not exist. Create it first (mkdir -p" in os_error_text(
        EN, _error(errno.ENOENT, target))
    missing_file = os_error_text(EN, _error(errno.ENOENT, tmp_path / "backup.db"), action="read")
    assert missing_file == (f"Cannot read {tmp_path / 'backup.db'}: there is no such file; "
                            "check the name and the folder.")


@pytest.mark.parametrize(("number", "zh", "en"), [
    (errno.ENOSPC, "所在磁盘已满", "is full, or the user's quota is used up"),
    (errno.EDQUOT, "磁盘配额已用完", "df -h"),
    (errno.EROFS, "位于只读文件系统上", "read-only file system (a write-protected disk"),
    (errno.ENAMETOOLONG, "文件名超出文件系统允许的长度", "Give a shorter one"),
    (errno.EBUSY, "正被其他程序占用", "Close it there and try again"),
    (errno.EEXIST, "如要替换，请加 --force（-f）", "Add --force (-f) to replace it"),
])
def test_the_common_errors_are_translated_with_what_to_do(
        tmp_path: Path, number: int, zh: str, en: str) -> None:
    target = tmp_path / "feed.ics"
    text = os_error_text(ZH, _error(number, target))
    assert text.startswith(f"无法写入 {target}：") and zh in text
    assert not any(words in text for words in SYSTEM_WORDS), text
    assert en in os_error_text(EN, _error(number, target))


def test_a_folder_where_a_file_was_meant_and_a_file_where_a_folder_was(tmp_path: Path) -> None:
    text = os_error_text(ZH, _error(errno.EISDIR, tmp_path), suffix=".png")
    assert text == (f"无法写入 {tmp_path}：这是一个文件夹。请给出文件名，例如 "
                    f"{tmp_path}/duban.png。")
    blocker = tmp_path / "ledger.xlsx"
    blocker.write_bytes(b"x")
    inside = blocker / "out.xlsx"
    english = os_error_text(EN, _error(errno.ENOTDIR, inside))
    assert english == (f"Cannot write {inside}: {blocker} is a file, not a folder. Give a path "
                       "made of folders, or move that file away.")


def test_a_rare_error_keeps_the_systems_words_after_a_translated_lead(tmp_path: Path) -> None:
    target = tmp_path / "x.xlsx"
    text = os_error_text(ZH, _error(errno.EIO, target))
    assert text == f"无法写入 {target}：系统拒绝了操作：Input/output error（EIO）。"
    used = os_error_text(EN, _error(errno.EIO, target), action="use")
    assert used == f"Cannot use {target}: the system refused: Input/output error (EIO)."


# -- the rules for -o ------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "given", "expected"), [
    (LEDGER, "ledger.pdf", "ledger.xlsx"), (LEDGER, "台账.xls", "台账.xlsx"),
    (CHART, "chart.jpg", "chart.png"), (CHART, "chart.svg", "chart.png"),
    (CALENDAR, "feed.txt", "feed.ics"), (CALENDAR, "feed.ical", "feed.ics"),
])
def test_another_extension_is_refused_naming_the_one_expected(
        tmp_path: Path, kind: OutputKind, given: str, expected: str) -> None:
    with pytest.raises(CliError) as refused:
        output_target(str(tmp_path / given), kind, ZH)
    assert refused.value.status == USAGE
    [line] = refused.value.lines
    assert f"文件名须以 {kind.suffix} 结尾，例如 {tmp_path / expected}" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("kind", "given", "written"), [
    (LEDGER, "台账", "台账.xlsx"), (LEDGER, "LEDGER.XLSX", "LEDGER.XLSX"),
    (CHART, "chart", "chart.png"), (CALENDAR, "Feed.ICS", "Feed.ICS"),
])
def test_the_extension_is_added_when_missing_and_any_case_is_accepted(
        tmp_path: Path, kind: OutputKind, given: str, written: str) -> None:
    target = output_target(str(tmp_path / given), kind, EN)
    assert target.path == tmp_path / written and not target.replaces


@pytest.mark.parametrize("kind", [LEDGER, CHART, CALENDAR])
def test_an_existing_file_is_kept_unless_forced_and_then_said_replaced(
        tmp_path: Path, kind: OutputKind) -> None:
    existing = tmp_path / f"out{kind.suffix}"
    existing.write_bytes(b"the office's copy")
    with pytest.raises(CliError) as refused:
        output_target(str(existing), kind, ZH)
    assert refused.value.status == FAILED  # a problem with files, not a wrong command line
    assert refused.value.lines == (f"无法写入 {existing}：文件已存在。如要替换，请加 --force"
                                   "（-f）；或换一个文件名。",)
    forced = output_target(str(existing), kind, EN, force=True)
    assert forced.replaces and forced.replaced_note(EN) == " It replaced the file that was there."
    write_output(forced, b"new", EN)
    assert existing.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == [existing.name]  # no temporary file left


def test_standard_output_takes_text_anywhere_and_binary_only_off_a_terminal() -> None:
    for kind in (LEDGER, CHART):
        with pytest.raises(CliError) as refused:
            output_target("-", kind, ZH, stdout_is_terminal=True)
        assert refused.value.status == USAGE
        assert f"请重定向到文件（-o - > 文件{kind.suffix}）" in refused.value.lines[0]
        assert output_target("-", kind, ZH, stdout_is_terminal=False).path is None
    to_terminal = output_target("-", CALENDAR, EN, stdout_is_terminal=True)
    assert to_terminal.path is None and to_terminal.shown(EN) == "standard output"


def test_a_folder_a_missing_folder_and_a_file_in_the_way(tmp_path: Path) -> None:
    with pytest.raises(CliError) as folder:
        output_target(str(tmp_path), LEDGER, EN)
    assert folder.value.lines == (f"Cannot write {tmp_path}: it is a folder. Give a file name, "
                                  f"e.g. {tmp_path}/duban.xlsx.",)
    with pytest.raises(CliError) as missing:
        output_target(str(tmp_path / "nowhere") + "/", CHART, EN)
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in missing.value.lines[0]
    with pytest.raises(CliError) as deep:
        output_target(str(tmp_path / "a" / "b" / "x.ics"), CALENDAR, ZH)
    assert f"文件夹 {tmp_path / 'a' / 'b'} 不存在" in deep.value.lines[0]
    (tmp_path / "file").write_text("x")
    with pytest.raises(CliError) as blocked:
        check_writable(tmp_path / "file" / "x.xlsx", ZH)
    assert f"{tmp_path / 'file'} 是文件而不是文件夹" in blocked.value.lines[0]


def test_a_failed_write_leaves_the_old_file_and_no_half_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    existing = tmp_path / "ledger.xlsx"
    existing.write_bytes(b"yesterday")
    target = output_target(str(existing), LEDGER, ZH, force=True)

    def full_disk(source: object, destination: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(destination))

    monkeypatch.setattr("bot.files.os.replace", full_disk)
    with pytest.raises(CliError) as failed:
        write_output(target, b"today", ZH)
    assert failed.value.lines[0].startswith(f"无法写入 {existing}：{tmp_path} 所在磁盘已满")
    assert existing.read_bytes() == b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.xlsx"]


def test_a_file_made_meanwhile_is_not_replaced_without_force(tmp_path: Path) -> None:
    target = output_target(str(tmp_path / "chart.png"), CHART, EN)
    (tmp_path / "chart.png").write_bytes(b"someone else's")
    with pytest.raises(CliError) as refused:
        write_output(target, b"mine", EN)
    assert "it exists already" in refused.value.lines[0]
    assert (tmp_path / "chart.png").read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_output(output_target(str(tmp_path / "feed.ics"), CALENDAR, EN), b"BEGIN", EN)
    finally:
        os.umask(old)
    assert (tmp_path / "feed.ics").stat().st_mode & 0o777 == 0o644


# -- a socket the webhook cannot open ---------------------------------------------------------
@pytest.mark.parametrize(("error", "zh"), [
    (OSError(errno.EADDRINUSE, "Address already in use"), "已有其他程序在此监听"),
    (PermissionError(errno.EACCES, "Permission denied"), "1024 以下的端口需要 root 权限"),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), "本机没有这个地址"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "无法解析该主机名"),
])
def test_a_webhook_socket_refused_is_said_in_the_readers_words(error: OSError, zh: str) -> None:
    text = listen_error(error).translate(ZH.gettext)
    assert text.startswith(zh) and error.strerror not in text
    assert listen_error(error).translate(EN.gettext) == str(listen_error(error))


def test_a_rare_socket_error_keeps_the_systems_words() -> None:
    error = OSError(errno.ENETDOWN, "Network is down")
    assert listen_error(error).translate(ZH.gettext) == (
        "系统拒绝了操作：Network is down（ENETDOWN）")


def test_a_replaced_file_keeps_its_permissions_and_a_link_is_followed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    ledger = shared / "台账.xlsx"
    ledger.write_bytes(b"old")
    ledger.chmod(0o664)  # the office's group may edit it
    write_output(output_target(str(ledger), LEDGER, ZH, force=True), b"new", ZH)
    assert ledger.read_bytes() == b"new" and ledger.stat().st_mode & 0o777 == 0o664
    link = tmp_path / "latest.xlsx"
    link.symlink_to(ledger)
    write_output(output_target(str(link), LEDGER, ZH, force=True), b"newer", ZH)
    assert link.is_symlink() and ledger.read_bytes() == b"newer"
    assert sorted(p.name for p in shared.iterdir()) == ["台账.xlsx"]


# -- a read-only disk is no matter of permissions ----------------------------------------------
class _ReadOnlyMount:
    f_flag = os.ST_RDONLY


@pytest.mark.parametrize("kind", [LEDGER, CHART, CALENDAR])
def test_a_read_only_disk_is_said_read_only_not_no_permission(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: OutputKind) -> None:
    """The tester's case: a tmpfs mounted read-only (root 0777) was told to chown or chmod."""
    monkeypatch.setattr("bot.files.os.access", lambda *args, **kwargs: False)
    monkeypatch.setattr("bot.files.os.statvfs", lambda path: _ReadOnlyMount())
    with pytest.raises(CliError) as refused:
        output_target(str(tmp_path / "x"), kind, ZH)
    assert refused.value.status == FAILED
    assert refused.value.lines == (f"无法写入 {tmp_path / ('x' + kind.suffix)}：{tmp_path} "
                                   "位于只读文件系统上（写保护的磁盘，或以只读方式挂载）。"
                                   "请写到其他文件夹。",)
    with pytest.raises(CliError) as english:
        output_target(str(tmp_path / "x"), kind, EN)
    assert "read-only file system" in english.value.lines[0]
    assert "chmod" not in english.value.lines[0]


def test_a_writable_disk_without_the_right_is_still_no_permission(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.files.os.access", lambda *args, **kwargs: False)
    with pytest.raises(CliError) as refused:
        output_target(str(tmp_path / "x.xlsx"), LEDGER, ZH)
    assert "chown 或 chmod" in refused.value.lines[0] and "只读" not in refused.value.lines[0]


# -- odd -o values ------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["", " ", "\t", "  "])
def test_an_empty_or_blank_name_is_refused_not_replaced_by_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    """-o "$OUT" with OUT unset wrote the default file silently."""
    monkeypatch.chdir(tmp_path)
    for kind in (LEDGER, CHART, CALENDAR):
        with pytest.raises(CliError) as refused:
            output_target(given, kind, ZH)
        assert refused.value.status == USAGE
        assert "-o 需要文件名" in refused.value.lines[0], refused.value.lines
    with pytest.raises(CliError) as english:
        output_target(given, LEDGER, EN)
    assert english.value.lines[0].startswith("-o needs a file name")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("kind", "given"), [
    (LEDGER, ".xlsx"), (CALENDAR, ".ics"), (CHART, ".PNG"), (LEDGER, "sub/.xlsx"),
    (CALENDAR, "ics"),
])
def test_a_bare_extension_is_refused_not_doubled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: OutputKind, given: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(CliError) as refused:
        output_target(given, kind, EN)
    assert refused.value.status == USAGE
    example = Path(given).with_name(f"duban{kind.suffix}")
    assert refused.value.lines == (f"Cannot write {given}: the name is only the extension. "
                                   f"Give a name before it, e.g. {example}.",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


@pytest.mark.parametrize(("kind", "given", "example"), [
    (LEDGER, "a.xlsx.pdf", "a.xlsx"), (CALENDAR, "feed.ICS.txt", "feed.ICS"),
    (CHART, "c.png.jpg", "c.png"), (LEDGER, "a.b.pdf", "a.b.xlsx"),
])
def test_a_name_with_the_extension_before_another_suggests_dropping_the_last(
        tmp_path: Path, kind: OutputKind, given: str, example: str) -> None:
    with pytest.raises(CliError) as refused:
        output_target(str(tmp_path / given), kind, EN)
    assert refused.value.lines[0].endswith(f"e.g. {tmp_path / example}.")


def test_the_working_folder_is_named_not_a_question_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for given in (".", "./"):
        with pytest.raises(CliError) as refused:
            output_target(given, LEDGER, EN)
        assert refused.value.lines == ("Cannot write .: it is a folder. Give a file name, "
                                       "e.g. duban.xlsx.",)
        assert refused.value.status == FAILED
    with pytest.raises(CliError) as chinese:
        output_target(".", CALENDAR, ZH)
    assert chinese.value.lines[0].startswith("无法写入 .：这是一个文件夹")


@pytest.mark.parametrize("kind", [LEDGER, CHART, CALENDAR])
def test_dev_null_is_written_to_never_beside(kind: OutputKind) -> None:
    before = set(os.listdir("/dev"))
    target = output_target("/dev/null", kind, ZH)
    assert target.stream and not target.replaces and target.shown(ZH) == "/dev/null"
    write_output(target, b"discarded", ZH)
    assert set(os.listdir("/dev")) - before == set()


def test_a_named_pipe_gets_the_data_directly(tmp_path: Path) -> None:
    pipe = tmp_path / "feed.ics"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        target = output_target(str(pipe), CALENDAR, EN)  # exists, yet no --force needed
        assert target.stream
        write_output(target, b"BEGIN:VCALENDAR", EN)
        assert os.read(reader, 100) == b"BEGIN:VCALENDAR"
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.ics"]


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "//dev//stdout",
                                  "/dev/./stdout"])
@pytest.mark.parametrize("kind", [LEDGER, CHART, CALENDAR])
def test_standard_output_by_any_name_is_standard_output(name: str, kind: OutputKind) -> None:
    """Whatever /dev/stdout resolves to (a file the shell redirected into, a pipe)."""
    target = output_target(name, kind, ZH, stdout_is_terminal=False)
    assert target.path is None and not target.stream
    if not kind.text:
        with pytest.raises(CliError) as refused:
            output_target(name, kind, EN, stdout_is_terminal=True)
        assert refused.value.status == USAGE


@pytest.mark.parametrize("name", ["/dev/duban", "/dev/shm/../duban.png", "/proc/duban"])
def test_a_name_under_dev_or_proc_is_refused_never_made(name: str) -> None:
    before = set(os.listdir("/dev"))
    for t, said in ((ZH, "存放的是设备"), (EN, "holds devices, not files")):
        with pytest.raises(CliError) as refused:
            output_target(name, CHART, t)
        assert refused.value.status == USAGE and said in str(refused.value), str(refused.value)
    assert set(os.listdir("/dev")) - before == set()
