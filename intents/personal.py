"""Who is asking, taken out of what is asked: "我叫张三 不动产登记办不了 电话13700001111" is a complaint that
gives a name and a phone, not a message that only gives them (intent provide_info). The classifier reads the
rest of the message when enough is left; a message that is only personal details stays one.
"""

from __future__ import annotations

import re

# A mobile or landline number, an 18-digit 身份证号, with the words that introduce them; a name told ("我叫张三",
# "本人姓李") up to a break or the contact words after it.
_PERSONAL = re.compile(
    r"(?:我的?)?(?:联系)?(?:电话|手机|手机号|号码|联系方式|身份证号?码?|证件号码?)?\s*(?:是|为|:|：)?\s*"
    r"(?:(?<![0-9])1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])"
    r"|(?<![0-9])0[0-9]{2,3}-?[0-9]{7,8}(?![0-9])"
    r"|(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9]))"
    r"|(?:我叫|我姓|本人姓|本人叫|我的名字叫|名字叫)\s*[\u4e00-\u9fa5]{1,4}?(?=[\s，,。；;]|电话|手机|联系|$)"
)
_FILLER = re.compile(r"[\s，,。.；;：:！!、]+")
MIN_ASKED_CHARS = 6  # what is left must say something on its own: "我叫张三 电话138…" leaves nothing


def what_is_asked(text: str) -> str:
    """The text without the name, phone and 身份证号 it gives, if enough is left; else the text itself."""
    rest = _PERSONAL.sub(" ", text)
    if rest == text:
        return text
    rest = _FILLER.sub("，", rest).strip("，")
    return rest if len(rest.replace("，", "")) >= MIN_ASKED_CHARS else text
