"""Task statuses, reading a free-text progress reply, and the traffic light shown for it.

A department answers a reminder in its own words (``已完成``, ``完成80%``, ``部分完成，部分受阻``,
``in progress``). :func:`parse_status_text` turns that into a :class:`ParsedStatus`; when the
text names two different statuses it is ambiguous and the bot should ask which one is meant.

Reading rules, in order (each matched phrase is consumed so later rules do not read it again):

1. Negated completion is not done: 未完成, 没有完成, 尚未完成, 还没完成, 未开始, not done,
   not finished, unfinished, incomplete -> in progress; 无法完成, 不能完成, cannot be completed
   -> blocked.
2. Partial completion is not done: 部分完成, 基本完成, 初步完成, partly done -> in progress.
3. Completion with a percentage is progress: 完成80% / 80%已完成 / 80% done -> in progress below
   100, done at 100 (a percentage that is not a whole number 0-100 is
   ``bad_percent``: asked again). 完成情况 / 完成时间 are nouns, no status.
4. Completion in the past tense is done: 已完成, 已按计划完成, 已如期办结.
5. Completion still to come is not done: 预计11月底完成, 正在抓紧完成, will be done -> in progress.
6. Denied obstacles are no status: 无困难, 没有阻碍, not blocked, no blockers.
7. Plain words: 不适用 / 无此项 / 不涉及 / n/a / not applicable; 受阻 / 困难 / 阻碍 / 卡住 / 停滞 /
   blocked / stuck; 进行中 / 推进中 / 正在 / 实施中 / in progress / ongoing / underway; 完成 /
   完工 / 办结 / 竣工 / done / completed / complete / finished. English is case-insensitive.

A percentage alone implies done at 100 and in progress below; next to "blocked" it is just the
progress made, otherwise it is one more candidate (``已完成，进度80%`` is ambiguous).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from schedules.numbers import parse_percent


class Status(StrEnum):
    """A unit's own account of a task."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    NOT_APPLICABLE = "not_applicable"


#: Worst first, for sorting summaries: blocked, then no reply (None), in progress, done, n/a.
WORST_FIRST: tuple[Status | None, ...] = (
    Status.BLOCKED,
    None,
    Status.IN_PROGRESS,
    Status.DONE,
    Status.NOT_APPLICABLE,
)


def worst_first(status: Status | None) -> int:
    """Sort key putting the statuses that need attention first (None = no reply yet)."""
    return WORST_FIRST.index(status)


@dataclass(frozen=True)
class ParsedStatus:
    """What a free-text reply says.

    Attributes:
        status: The one status read, or None (nothing recognised, or ambiguous).
        candidates: Every status the text names; two or more make it ambiguous.
        percent: A progress percentage 0-100 if the text gives one.
        note: The original text, stripped.
        ambiguous: True when the text names more than one status.
        bad_percent: a percentage written that is not a whole number 0-100 (``0.5%``,
            ``150%``, ``-5%``): the bot asks again instead of reading the text.
        restates: the words say nothing beyond the status: once the status phrases, a
            percentage, the task's naming (第15项, task 15, a leading 15), punctuation and
            particles (了, 的, 谢谢) are set aside nothing is left (see :attr:`own_note`).
    """

    status: Status | None
    candidates: frozenset[Status]
    percent: int | None
    note: str
    ambiguous: bool
    bad_percent: str = ""
    restates: bool = False

    @property
    def own_note(self) -> str:
        """The note to keep: "" when the words only restate the status (``已完成``,
        ``第15项已完成``, ``done.``): the same report sent twice, in any channel, is one."""
        return "" if self.restates else self.note


_DONE_ZH = r"(?:完成|完工|办结|竣工)"
_DONE_EN = r"(?:done|finished|completed?)"
_A = r"(?<![a-z])"  # an English word starts (\b would not: Chinese characters are word characters)
_Z = r"(?![a-z])"  # an English word ends
_CN_NUMBER = r"[零〇一二两三四五六七八九十百]{1,4}"
# Any number before % is matched (signed, fractional, long) so that one that is not a whole
# 0-100 is caught and asked about, not read in part (-5% as 5%, 0.5% as 5%); only ASCII digits
# count (NFKC has folded full-width ones), never other scripts' (schedules.numbers).
# A percentage is a whole word: nothing of a formula or a name glued before it (1/2%, 1e2%,
# a60%); such a word is caught whole as a bad percentage (_GLUED_PERCENT) and asked about.
_GLUE = r"0-9A-Za-z./+\-−_^*×÷=%"
_PERCENT = rf"(?:(?<![{_GLUE}])([-−]?[0-9]+(?:\.[0-9]*)?)\s*%|百分之({_CN_NUMBER}))"
_PERCENT_RE = re.compile(_PERCENT)
_GLUED_PERCENT = re.compile(rf"(?<![{_GLUE}])[{_GLUE}]*[0-9][{_GLUE}]*\s*%")
_OVERFULFILLED = rf"超额(?:已经|已)?{_DONE_ZH}(?:了|率)?(?:约|达到|达|为)?\s*(?:{_PERCENT})?"
_CLAUSE = r"[^,，.。;；!！?？\n]"  # a character that does not end the clause

# (pattern, status); None = consume the phrase without a status. Order matters: see the module
# docstring. A group "pct" of 100 or more means done; below, the percentage is progress.
_RULES: tuple[tuple[re.Pattern[str], Status | None], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), status)
    for pattern, status in (
        # 1. negated completion
        (rf"(?:无法|不能|难以|不可能){_CLAUSE}{{0,4}}?{_DONE_ZH}", Status.BLOCKED),
        (rf"{_DONE_ZH}不了|完不成|办不完|做不完", Status.BLOCKED),
        (rf"(?:待|有待|尚待|仍需|还需|还要|仍要|需要|需){_CLAUSE}{{0,6}}?{_DONE_ZH}",
         Status.IN_PROGRESS),
        (rf"(?:尚未|还未|还没有|还没|没有|没|未)能?(?:全部|全面|完全|按期|按时|如期)?{_DONE_ZH}",
         Status.IN_PROGRESS),
        (r"(?:尚未|还未|还没有|还没|没有|没|未)(?:开始|启动|开展)", Status.IN_PROGRESS),
        (rf"{_A}(?:cannot|can['’]t|can not|unable to)\s+(?:be\s+)?(?:{_DONE_EN}|finish|complete)"
         rf"{_Z}", Status.BLOCKED),
        (rf"{_A}(?:not|never|[a-z]+n['’]t)\s+(?:yet\s+|fully\s+|been\s+|quite\s+|entirely\s+)*"
         rf"{_DONE_EN}{_Z}", Status.IN_PROGRESS),
        (rf"{_A}(?:unfinished|incomplete|not\s+(?:yet\s+)?started){_Z}", Status.IN_PROGRESS),
        # 2. partial completion
        (rf"(?:部分|大部分|基本|初步)(?:已经|已)?{_DONE_ZH}", Status.IN_PROGRESS),
        (rf"(?:已经|已)?{_DONE_ZH}了?(?:一半|大半|过半|多半|部分|大部分|一部分|少部分"
         rf"|[一二三四五六七八九]成|{_CN_NUMBER}分之{_CN_NUMBER})", Status.IN_PROGRESS),
        (rf"(?:即将|将要|快要|快|接近|差不多|几乎){_CLAUSE}{{0,2}}?{_DONE_ZH}",
         Status.IN_PROGRESS),
        (rf"{_A}(?:partly|partially|mostly|almost|nearly|half)\s+{_DONE_EN}{_Z}",
         Status.IN_PROGRESS),
        # 3. completion with a percentage, and completion as a noun; over-fulfilment (超额完成
        # 120%) is done, its percentage no progress
        (_OVERFULFILLED, Status.DONE),
        (rf"(?:已经|已)?{_DONE_ZH}(?:了|度|率|进度|比例)?(?:约|近|达到|达|超过|为)?\s*"
         rf"(?P<pct>{_PERCENT})", None),
        (rf"(?P<pct>{_PERCENT})\s*(?:已经|已)?{_DONE_ZH}", None),
        (rf"(?P<pct>{_PERCENT})\s*{_DONE_EN}{_Z}", None),
        (rf"{_A}{_DONE_EN}\s*(?P<pct>{_PERCENT})", None),
        (rf"{_DONE_ZH}(?:情况|时间|时限|期限|节点)", None),
        # 4. completion in the past tense wins over a plan that mentions it
        (rf"(?:已经|已)(?:全部|全面)?(?:按|如)?(?:计划|期|时|要求)?{_DONE_ZH}", Status.DONE),
        (rf"(?:已经|已)(?:于|在){_CLAUSE}{{0,10}}?{_DONE_ZH}", Status.DONE),
        # 5. completion still to come
        (rf"(?:预计|计划|争取|力争|确保|拟|将于|将在|有望|正在|抓紧|加快){_CLAUSE}{{0,12}}?"
         rf"{_DONE_ZH}", Status.IN_PROGRESS),
        (rf"(?:今天|今日|明天|明日|后天|本周|这周|下周|下个?星期|周[一二三四五六日末]"
         rf"|本月|这个月|下个?月|月底|月末|年底|年末|年内|近期|近日|尽快|随后|稍后|下旬|中旬|上旬"
         rf"|[0-9]{{1,2}}\s*月|[0-9]{{1,2}}\s*[日号]){_CLAUSE}{{0,6}}?(?:前|之前|以前)?{_DONE_ZH}"
         rf"(?!了)",
         Status.IN_PROGRESS),
        (rf"{_A}(?:will|shall|should|expected to|expect to|plan to|planned to|going to)\s+"
         rf"(?:be\s+)?(?:{_DONE_EN}|finish|complete){_Z}", Status.IN_PROGRESS),
        # 6. denied obstacles
        (r"(?:无|没有|没|未遇到|未发现|不存在)(?:任何)?(?:困难|阻碍|障碍)", None),
        (rf"{_A}(?:not\s+blocked|unblocked|no\s+blockers?){_Z}", None),
        # 7. plain words
        (rf"不适用|无此项|不涉及|{_A}n/a{_Z}|{_A}not\s+applicable{_Z}", Status.NOT_APPLICABLE),
        (rf"受阻|困难|阻碍|卡住|停滞|停工|{_A}(?:blocked|stuck){_Z}", Status.BLOCKED),
        (rf"进行中|推进中|正在|实施中|开展中|建设中|在建"
         rf"|{_A}(?:in\s+progress|ongoing|under\s?way){_Z}", Status.IN_PROGRESS),
        (rf"{_DONE_ZH}|{_A}{_DONE_EN}{_Z}", Status.DONE),
    )
)

_QUESTION = re.compile(r"[?？]\s*$|(?:吗|么|嘛|没有?)\s*[?？。.!！]?\s*$")

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_MASK = "\x00"


def parse_status_text(text: str) -> ParsedStatus:
    """Read a status, the candidates and a percentage from a free-text reply.

    Args:
        text: What the unit wrote, in Chinese or English.

    Returns:
        The parse. ``status`` is set only when exactly one status is named; with none,
        ``candidates`` is empty and ``ambiguous`` False; with several, ``ambiguous`` is True.
    """
    note = text.strip()
    # NFKC folds full-width digits and signs (８０％ -> 80%) so one pattern reads both
    remaining = unicodedata.normalize("NFKC", note)
    bad_percent = _bad_percent(re.sub(_OVERFULFILLED, "", remaining))
    if _QUESTION.search(remaining):  # 完成了吗？ done? — a question reports nothing
        return ParsedStatus(status=None, candidates=frozenset(), percent=_first_percent(
            remaining), note=note, ambiguous=False, bad_percent=bad_percent)
    percent = _first_percent(remaining)
    candidates: set[Status] = set()
    for pattern, status in _RULES:
        for match in pattern.finditer(remaining):
            found = status
            if "pct" in pattern.groupindex:
                value = _percent_value(match.group("pct"))
                # below 100 the percentage itself speaks (see below), so 受阻，完成60% is blocked
                found = Status.DONE if value is not None and value >= 100 else None
            if found is not None:
                candidates.add(found)
        remaining = pattern.sub(lambda m: _MASK * len(m.group(0)), remaining)
    if percent is not None:
        implied = Status.DONE if percent == 100 else Status.IN_PROGRESS
        # partial progress is what a blocked task has made, not a second status
        if not (implied is Status.IN_PROGRESS and Status.BLOCKED in candidates):
            candidates.add(implied)
    ambiguous = len(candidates) > 1
    status = next(iter(candidates)) if len(candidates) == 1 else None
    return ParsedStatus(status=status, candidates=frozenset(candidates), percent=percent,
                        note=note, ambiguous=ambiguous, bad_percent=bad_percent,
                        restates=says_nothing_more(note))


NAMED_TASK = re.compile(r"第\s*([0-9]{1,3})\s*项|任务\s*([0-9]{1,3})|([0-9]{1,3})\s*号任务"
                        r"|(?<![a-z])task\s*#?\s*([0-9]{1,3})", re.IGNORECASE)
"""How a message names a task: 第16项, 任务16, 16号任务, task 16."""
_LEADING_NUMBER = re.compile(r"^\s*#?[0-9]{1,3}(?![0-9])(?!\s*[^\W0-9a-z])", re.IGNORECASE)
_PARTICLES = frozenset("了的啦啊呀吧哦")


# A status said plainly, nothing more: 已完成, 已经完成了, 进行中, done, in progress (a plan
# such as 预计月底完成 or a reason such as 资金不足受阻 says more).
_PLAIN_STATUS = re.compile(
    rf"(?:已经|已)?(?:全部)?{_DONE_ZH}|进行中|推进中|受阻|不适用"
    rf"|{_A}(?:{_DONE_EN}|in\s+progress|ongoing|blocked|n/a|not\s+applicable){_Z}",
    re.IGNORECASE)


def says_nothing_more(text: str) -> bool:
    """Whether words say nothing beyond a plain status: only status words (已完成, done),
    percentages 0-100, a task's naming (第15项, task 15, a leading bare 15 as in /report),
    punctuation, particles (了, 的) or courtesy (谢谢, thanks)."""
    text = _PLAIN_STATUS.sub(" ", unicodedata.normalize("NFKC", text))
    # a percentage 0-100 is the progress stored; 超额完成120% says more
    text = _PERCENT_RE.sub(lambda m: " " if _percent_value(m.group(0)) is not None
                           else m.group(0), NAMED_TASK.sub(" ", text))
    text = _LEADING_NUMBER.sub(" ", text)
    # punctuation, spaces, emoji set aside; a math or currency sign (<, $) may say something
    kept = "".join(" " if unicodedata.category(ch)[0] in "PZC"
                   or unicodedata.category(ch) in ("So", "Sk") else ch for ch in text)
    for run in _RUN.findall(kept.casefold()):
        if run.isascii() and run.isalpha():
            if run not in _COURTESY_EN:
                return False
        elif not (all(ch in _PARTICLES for ch in run) or _only_courtesy(run)):
            return False
    return True


# Courtesy that carries no report: after a button it must not become its note. A message is
# small talk when, once emoji, punctuation and stickers-as-text ([强], [抱拳]) are set aside, it
# is made only of these pieces, in any combination or repetition (好的好的, 收到，谢谢！,
# 谢谢领导, 嗯，知道了, ok thanks).
_COURTESY_ZH = frozenset({
    "谢谢", "谢", "谢啦", "多谢", "感谢", "感激", "非常", "十分", "万分", "特别", "太", "辛苦",
    "辛苦了", "麻烦", "麻烦了", "拜托", "不客气", "不用谢", "客气", "好", "好的", "好滴", "好嘞",
    "好哒", "好吧", "行", "可以", "没问题", "没事", "收到", "已收到", "收悉", "已收悉", "知道",
    "知道了", "明白", "了解", "清楚", "懂", "懂了", "晓得", "对", "是", "是的", "对的", "嗯",
    "嗯嗯", "哦", "噢", "喔", "哈", "哈哈", "欧克", "赞", "点赞", "棒", "给力", "谢谢你", "谢谢您",
    "您辛苦了", "你辛苦了", "大家", "领导", "老师", "主任", "局长", "科长", "书记", "同志", "再见",
    "了", "的", "啊", "呀", "啦", "呢", "吧", "嘛", "哟",
})  # no 你/您 alone: 你好 is a greeting, answered with how to report
_COURTESY_EN = frozenset({
    "ok", "okay", "okk", "k", "kk", "thanks", "thank", "thankyou", "thx", "ty", "you", "very",
    "much", "so", "a", "lot", "many", "noted", "got", "it", "great", "fine", "sure", "yes",
    "yep", "yeah", "cheers", "alright", "all", "right", "good", "nice", "cool", "sir", "madam",
    "understood", "roger", "received",
})
_LONGEST_COURTESY = max(map(len, _COURTESY_ZH))
# A WeChat or QQ sticker pasted as text: a short word in square brackets.
_STICKER = re.compile(r"[\[【]([^\[\]【】]{1,6})[\]】]")
_RUN = re.compile(r"[a-z]+|[^a-z\s]+")


def _only_courtesy(run: str) -> bool:
    """Whether a run of Chinese characters is a sequence of courtesy pieces."""
    reachable = [True] + [False] * len(run)
    for end in range(1, len(run) + 1):
        reachable[end] = any(reachable[start] and run[start:end] in _COURTESY_ZH
                             for start in range(max(0, end - _LONGEST_COURTESY), end))
    return reachable[-1]


def is_small_talk(text: str) -> bool:
    """Whether a message is only courtesy (谢谢, 好的，谢谢, 👍, [强], "ok thanks") or has no
    words at all.

    Emoji, punctuation, white space, invisible characters (zero-width space) and stickers
    written as text ([强]) are set aside; what remains must be empty or made of courtesy
    phrases, in any combination and any case. Digits are never courtesy (60 is a percentage).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _STICKER.sub(lambda m: " " if not parse_status_text(m.group(1)).candidates
                        else m.group(0), text)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text)
    for run in _RUN.findall(kept.casefold()):
        if run.isascii() and run.isalpha():
            if run not in _COURTESY_EN:
                return False
        elif not _only_courtesy(run):
            return False
    return True


_QUESTION_START = re.compile(r"^\W*(?:请问|请教|想问|问一下|是否|能否|可否|是不是|有没有|要不要"
                             r"|需不需要|怎么|如何|何时|什么时候|哪里|哪些)")
_QUESTION_END = re.compile(r"[?？]\W*$|(?:吗|么|嘛|没有?)\s*[?？。.!！]?\s*$")


def is_question(text: str) -> bool:
    """Whether a message asks something (需要上传附件吗？, 请问…, 是否…, ends with ? or ？).

    A question is never a report nor a note: the bot answers it with how to ask the office.
    """
    written = unicodedata.normalize("NFKC", text).strip()
    return bool(_QUESTION_END.search(written) or _QUESTION_START.search(written))


_ACKNOWLEDGEMENT = frozenset({"收到", "收到了", "已收到", "签收", "已签收", "收到谢谢", "好的收到",
                              "收到收到", "received", "noted", "got it", "ok", "okay"})


def is_acknowledgement(text: str) -> bool:
    """Whether a message only says "received" (收到, 已签收, received): the 签收 of a reminder
    it replies to. Emoji, punctuation and invisible characters are ignored, as for small
    talk."""
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " "
                   for ch in unicodedata.normalize("NFKC", text))
    core = "".join(kept.split()).casefold()
    return core in {word.replace(" ", "") for word in _ACKNOWLEDGEMENT}


def light(status: Status | None, overdue: bool) -> str:
    """The traffic light for a task's status.

    - 🟢 done (also when late: it is done);
    - 🟡 in progress;
    - 🔴 blocked, or anything not done once overdue (in progress or no reply);
    - ⚪ no reply yet while not overdue, and also not applicable (n/a is never red, whatever the
      date: there is nothing to chase).

    Args:
        status: The latest status, or None if the unit has not replied.
        overdue: Whether the cutoff has passed.

    Returns:
        One emoji.
    """
    if status is Status.DONE:
        return "🟢"
    if status is Status.NOT_APPLICABLE:
        return "⚪"
    if status is Status.BLOCKED or overdue:
        return "🔴"
    if status is Status.IN_PROGRESS:
        return "🟡"
    return "⚪"


def _first_percent(text: str) -> int | None:
    for match in _PERCENT_RE.finditer(text):
        value = _percent_value(match.group(0))
        if value is not None and value <= 100:
            return value
    return None


def _bad_percent(text: str) -> str:
    """The first percentage written that is not a whole number 0-100 on its own (``0.5%``,
    ``150%``, ``1/2%``, ``a60%``, ``60%-70%``), or ""."""
    for match in _GLUED_PERCENT.finditer(text):
        clean = _PERCENT_RE.fullmatch(match.group(0))
        if clean is None or _percent_value(match.group(0)) is None:
            return match.group(0)
    return ""


def _percent_value(written: str) -> int | None:
    """The percent of ``80%`` or ``百分之八十`` by the one strict rule (a whole number 0-100,
    see :mod:`schedules.numbers`); None for ``0.5%``, ``150%``, ``-5%``."""
    match = _PERCENT_RE.fullmatch(written.strip())
    if match is None:
        return None
    arabic, chinese = match.groups()
    if arabic is not None:
        return parse_percent(arabic)
    return _chinese_number(chinese)


def _chinese_number(written: str) -> int | None:
    """0-100 written in Chinese numerals (八十, 八十五, 十五, 五, 一百, 百); None otherwise."""
    if written in ("百", "一百"):
        return 100
    if "百" in written:
        return None
    if "十" in written:
        tens, _, ones = written.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            return None
        ten_value = _CN_DIGITS.get(tens, -1) if tens else 1
        one_value = _CN_DIGITS.get(ones, -1) if ones else 0
        if ten_value < 1 or one_value < 0:
            return None
        return ten_value * 10 + one_value
    if len(written) == 1:
        return _CN_DIGITS.get(written)
    return None
