"""Rules for secrets: keys and tokens by their shape or cue, passwords after a cue, links and one-time codes."""

from __future__ import annotations

import re

from service.escalate.pii_rules import Check, Rule, has_digit


def _password(value: str) -> bool:
    # "my password is not working" names no password: a lone lower-case word is taken for prose; "********" and
    # "<redacted>" hold none either.
    word = value.rstrip(".,;:!?)\"'")
    return len(word) >= 4 and not (word.isalpha() and word.islower()) and not _PLACEHOLDER.fullmatch(word)


# Words that open or close a value without being part of it, and what follows a cue before the value.
_OPENERS = "(\"'“„«[<`"
_CLOSERS = ".,;:?)]}\"'»”>`"
_WORD = re.compile(r"\S+")
_EMAIL_LIKE = re.compile(r"[\w.+-]@[\w-]+\.\w")
# Identifiers, codes, hex numbers, ordinals, times, versions and file names: shaped like a password, never one.
_NOT_A_PASSWORD = re.compile(
    r"(?:[A-Z]{1,8}[-_#]?\d{1,12}(?:[-_][A-Z0-9]{1,12}){0,4}|[A-Z][A-Z0-9]{0,20}(?:_[A-Z0-9]{1,20}){1,6}"
    r"|0x[0-9a-fA-F]{1,40}|\d{1,6}(?:st|nd|rd|th|er|e|am|pm|h|s|ms|min|x|k|kb|mb|gb|%)|v?\d{1,4}(?:\.\d{1,6}){1,3}\w{0,10}"
    r"|[\w-]{1,60}\.(?:pdf|png|jpe?g|gif|txt|csv|xlsx?|docx?|json|ya?ml|log|zip|html?|exe|apk|conf|cfg|ini|env))",
)
# IPv6 and MAC addresses, times with zones: letters, digits and colons, and no password.
_NETWORK_OR_TIME = re.compile(
    r"[0-9a-fA-F:.]{2,45}(?:%\w{1,20})?|(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}|[\dT:.+-]{4,30}Z?"
)
_PLACEHOLDER = re.compile(
    r"[*xX•.#-]{1,64}|<[^>]{0,60}>|\$\{[^}]{0,60}\}?|%[\w]{1,40}%|\{\{[^}]{0,60}\}?\}?"
    r"|(?i:null|none|nil|true|false|undefined|redacted|hidden|secret|password|changeme|example|xxx+|\.\.\.)"
)


def _stripped(value: str, start: int, end: int) -> tuple[int, int]:
    while start < end and value[start] in _OPENERS:
        start += 1
    while end > start and value[end - 1] in _CLOSERS:
        end -= 1
    return start, end


def password_like(word: str) -> bool:
    """A word written as a password is: 6 to 64 characters, letters with digits or symbols, not a code or a date."""
    if not 6 <= len(word) <= 64 or "://" in word or word.lower().startswith("www.") or _EMAIL_LIKE.search(word):
        return False
    if not any(c.isalpha() for c in word) or _NETWORK_OR_TIME.fullmatch(word):
        return False
    # Trailing "!" or "?" is punctuation unless the rest already reads as a password ("sorry!", not "Sunshine2024!").
    core = word.rstrip("!?")
    symbols = {c for c in core if not c.isalnum()}
    if not any(c.isdigit() for c in core) and not symbols - set(".-_'’"):
        return False  # "e-mail", "sign-in", "config.yaml", "sorry!"
    return not _NOT_A_PASSWORD.fullmatch(word)


def token_like(word: str) -> bool:
    """A key or token: 16 or more characters of a key's alphabet, with letters and digits."""
    return (
        16 <= len(word) <= 2000
        and re.fullmatch(r"[A-Za-z0-9_\-+/=.~]+", word) is not None
        and any(c.isdigit() for c in word)
        and any(c.isalpha() for c in word)
        and "://" not in word
        and not re.fullmatch(r"v?\d{1,4}(?:\.\d{1,6}){1,3}[\w.-]*|\d{4}-\d\d-\d\d[\dT:.Z+-]*", word)
    )


def _pick_word(value: str, accept: Check, limit: int = 8) -> tuple[int, int] | None:
    for i, match in enumerate(_WORD.finditer(value)):
        if i >= limit:
            return None
        start, end = _stripped(value, match.start(), match.end())
        if end > start and accept(value[start:end]):
            return start, end
    return None


def pick_password(value: str) -> tuple[int, int] | None:
    """The first password-shaped word of the few after a password cue ("reset to Winter#1988?", "lautet X")."""
    return _pick_word(value, password_like)


def pick_token(value: str) -> tuple[int, int] | None:
    """The first key-shaped word of the few after a key or token cue."""
    return _pick_word(value, token_like)


def _token_in_path(url: str) -> bool:
    path = url.split("?", 1)[0].split("#", 1)[0]
    return any(token_like(part) and "." not in part for part in path.split("/")[3:])


_SECRET_FIELD = re.compile(
    r"[\"']?([\w.-]{1,60})[\"']?[ \t]{0,3}(?:=>|=|:)[ \t]{0,3}[\"']?([^\s\"',;&<>]{4,500})", re.ASCII
)
_SECRET_KEY = re.compile(
    r"secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key"
    r"|auth[_-]?key|signing[_-]?key|shared[_-]?access[_-]?key|credentials?|session[_-]?id|sessionid|cookie|kennwort"
    r"|passwort",
    re.IGNORECASE,
)


def pick_secret_field(value: str) -> tuple[int, int] | None:
    """The value of a field whose name says secret (API_KEY=…, "client_secret": "…"); None for other fields."""
    match = _SECRET_FIELD.match(value)
    if match is None or not _SECRET_KEY.search(match.group(1)) or not secret_value(match.group(2)):
        return None
    return match.span(2)


def secret_value(value: str) -> bool:
    """Whether the value of a secret-named field is a real value: not a placeholder, not a lower-case word."""
    return _password(value.strip("\"'`"))


SECRET_RULES: tuple[Rule, ...] = (
    Rule(
        "SECRET",
        r"\b(?:sk|rk)-(?:proj-|live-|test-|admin-|svcacct-|ant-(?:api\d\d-|admin\d\d-)?)?[A-Za-z0-9_-]{16,200}",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgh[pousr]_[A-Za-z0-9]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgithub_pat_[A-Za-z0-9_]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgl(?:pat|ptt|dt|rt|soat|cbt|imt|oas|ffct)-[A-Za-z0-9_-]{20,64}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bAIza[0-9A-Za-z_-]{35}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bwhsec_[A-Za-z0-9+/=]{20,100}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}", 0.95, ignore_case=False),
    Rule(
        "SECRET",
        r"\b(?:npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,300}|hf_[A-Za-z0-9]{30,40})\b",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\bya29\.[A-Za-z0-9_-]{20,500}", 0.95, ignore_case=False),
    Rule(
        "SECRET",
        r"\b(?:shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dop_v1_[a-f0-9]{64}|sq0(?:atp|csp)-[A-Za-z0-9_-]{22,60})\b",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\b(?:ATATT[A-Za-z0-9_=-]{20,300}|key-[0-9a-f]{32}\b|SK[0-9a-f]{32}\b)", 0.9, ignore_case=False),
    Rule(
        "SECRET",
        r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY-----[^-]{0,8000}(?:-----END[A-Z ]{0,30} PRIVATE KEY-----)?",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\beyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{0,2000}", 0.95),
    # "Authorization: Bearer …", "Basic …", "token …" in pasted requests.
    Rule(
        "SECRET",
        r"\b(?:bearer|basic|token)[ \t]{1,3}([A-Za-z0-9._~+/-]{12,2000}={0,2})",
        group=1,
        check=lambda v: token_like(v.rstrip("=")) or (len(v) >= 20 and any(c.isupper() for c in v)),
    ),
    # The password of a connection string or of a URL: scheme://user:PASSWORD@host.
    Rule(
        "SECRET",
        r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"'<>]{1,64}:([^\s@/\"'<>]{1,128})@[\w.-]",
        0.95,
        group=1,
        needs=r"://[^\s:/@]{1,64}:[^\s@/]{1,128}@",
    ),
    Rule(
        "SECRET",
        r"\b(?:password|passwort|kennwort|mot de passe|passcode|pwd|pin(?: code)?|mdp)\b"
        r"(?:[ ](?:is|was|ist|war|est|[ée]tait|lautet|would be)[ :]{1,3}|[ ]?[:=][ ]?|[ ]?\()"
        r"(?:[\"'`“„«][ ]?)?([^\s\"'`”“»]{3,64})",
        group=1,
        check=_password,
    ),
    # The first password-shaped word of the few after a password cue: "reset to X", "you sent (X)", "lautet X".
    Rule(
        "SECRET",
        r"\b(?:password|passwort|kennwort|mot de passe|passcode|passphrase|pass phrase|pwd|mdp|code secret"
        r"|credentials|zugangsdaten|identifiants)s?\b(?=([^\n]{1,80}))",
        0.85,
        group=1,
        pick=pick_password,
    ),
    # A field whose name says secret: API_KEY=…, "client_secret": "…", aws_secret_access_key = …, AccountKey=…;
    Rule(
        "SECRET",
        r"(?<![\w-])[\"']?[\w.-]{1,60}+[\"']?[ \t]{0,3}(?:=>|=|:)[ \t]{0,3}[\"']?[^\s\"',;&<>]{4,500}",
        0.9,
        pick=pick_secret_field,
        needs=r"(?:secret|token|passw|pwd|key|credential|session|cookie|kennwort)[\w.-]{0,20}[\"']?[ \t]{0,3}[=:]",
        near=(70, 520),
    ),
    Rule(
        "SECRET",
        r"\b(?:api[_ -]?key|secret(?:[_ ]key)?|access[_ ]token|auth[_ ]token|bearer|token|client[_ ]secret"
        r"|cl[ée] (?:d'api|secr[èe]te)|schl[üu]ssel)\b(?:[ ](?:is|ist|est))?[ ]?[:=]?[ ]?([A-Za-z0-9_./+=-]{12,300})",
        group=1,
        check=has_digit,
    ),
    # A key-shaped word (16+ characters, letters and digits) among the few after a key or token cue.
    Rule(
        "SECRET",
        r"\b(?:api[ _-]?key|key|token|secret|cl[ée](?: api| d'api)?|api-schl[üu]ssel|schl[üu]ssel|credential|jeton"
        r"|access[ _-]?key)s?\b(?=([^\n]{1,80}))",
        0.85,
        group=1,
        pick=pick_token,
    ),
    Rule(
        "URL",
        r"\bhttps?://[^\s<>\"']{1,300}?[?&#;](?:[\w.-]{0,30}?(?:token|key|sig|signature|secret|pass(?:word)?|pwd|auth"
        r"|session|sid|code|otp|jwt|credential|hash|nonce|ticket|reset|magic)[\w.-]{0,30}|t)=[^\s&#<>\"']{6,500}"
        r"[^\s<>\"']{0,500}",
        needs=r"https?://",
    ),
    # A link whose path holds a token: /reset/8f14e45f…, /invite/AbC123…, webhooks.
    Rule(
        "URL",
        r"\bhttps?://[^\s<>\"'/]{1,100}(?:/[^\s<>\"'/?#]{0,200}){0,8}/([A-Za-z0-9_-]{24,200})(?=[/?#\s\"'<>.,;)]|$)"
        r"[^\s<>\"']{0,500}",
        0.85,
        check=_token_in_path,
        needs=r"https?://",
    ),
    Rule("URL", r"\bhttps://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,200}", 0.95, ignore_case=False),
    Rule(
        "URL",
        r"\bhttps://(?:discord(?:app)?\.com/api/webhooks|[\w-]{1,60}\.webhook\.office\.com)/[^\s<>\"']{10,400}",
        0.95,
    ),
    Rule(
        "CODE",
        r"\b(?:one[- ]time (?:code|password|passcode|pin)|otp|verification code|security code|sms code|2fa code"
        r"|auth(?:entication)? code|login code|confirmation code"
        r"|code de (?:v[ée]rification|confirmation|s[ée]curit[ée])"
        r"|code (?:à usage unique|re[çc]u|sms)|best[äa]tigungscode|verifizierungscode|einmalcode|sicherheitscode|tan"
        r"|(?:my|your|the|votre|mon|le|dein|ihr|ihre|der|den) (?:sms[- ]|login |verification |security )?code"
        r"|sms-tan|sms-code|code aus der sms)"
        r"\b[^\d\n]{0,25}(\d{4,8})\b",
        group=1,
    ),
)
