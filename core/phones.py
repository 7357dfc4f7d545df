"""Contact phone numbers: read them as people type them, show them masked."""

from __future__ import annotations

import re
import unicodedata

_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Landline with area code: 0 + 2–3 digits, then 7–8 digits (e.g. 0756-1234567).
_LANDLINE = re.compile(r"^0[1-9][0-9]{1,2}[0-9]{7,8}$")


def normalise_phone(text: str) -> str | None:
    """The phone number in `text` as plain digits (+86 dropped, full-width folded, spaces and dashes
    removed), or None when it is not a mainland mobile or landline number.
    """
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", text))
    digits = re.sub(r"^(?:\+?86)(?=1[3-9])", "", digits)
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    return None


def mask_phone(phone: str) -> str:
    """"139****5678": the first three and last four digits, as replies repeat a number back; a landline keeps its
    area code ("0571-****9999": 010 and 02x have three digits, the others four).
    """
    if len(phone) < 8:
        return "*" * len(phone)
    if phone.startswith("0"):
        area = phone[:3] if phone[1] in "12" else phone[:4]
        return f"{area}-****{phone[-4:]}"
    return f"{phone[:3]}****{phone[-4:]}"
