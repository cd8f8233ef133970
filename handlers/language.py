"""Language detection for citizen texts.

langdetect is good at long, well-formed texts but weak at short ones and at Vietnamese
typed without diacritics ("khoi den bay mu mit" comes out as 'so', 'tl', 'cy', ...).
This module puts cheap rules in front of it:

1. nothing to judge (no letters once URLs, e-mails and @mentions are removed) -> 'und';
2. mostly CJK script -> 'ja' / 'ko' by script, otherwise Chinese, with langdetect only
   choosing between 'zh-cn' and 'zh-tw';
3. enough tokens carrying Vietnamese-only letters (ă đ ơ ư, dot below, hook above, ...)
   -> 'vi';
4. tokens that are well-formed Vietnamese syllables, most of them common Vietnamese words
   and clearly more Vietnamese than English -> 'vi' (this catches unaccented Vietnamese);
5. otherwise langdetect (seeded, so results are stable).

Pure Python; no messaging framework is imported here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

from langdetect import DetectorFactory
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import LangDetectException

from handlers.events import Event
from models.tables import Reporter

__all__ = [
    "UNDETERMINED",
    "detect_language",
    "judgeable",
    "learn_language",
    "normalize_locale",
    "reply_locale",
    "reporter_locale",
]

UNDETERMINED = "und"

# Stable results: langdetect draws random samples; a fixed seed makes it deterministic.
DetectorFactory.seed = 0

# --------------------------------------------------------------------------------------------
# Tunable thresholds
# --------------------------------------------------------------------------------------------

#: Share of CJK characters among letters above which the text is treated as CJK.
CJK_SHARE = 0.5
#: Share of tokens with Vietnamese-only letters that settles the question on its own.
VI_MARKED_SHARE = 1 / 3
#: Share of counted tokens that must be well-formed Vietnamese syllables.
VI_SYLLABLE_SHARE = 0.8
#: Share of counted tokens that must be common Vietnamese words (lexicon / abbreviations).
VI_LEXICON_SHARE = 0.5
#: Required lead of the Vietnamese-word share over the English-word share.
VI_OVER_EN_MARGIN = 0.25
#: Share of distinctly English words that makes an ASCII text English when langdetect wavers.
EN_WORD_SHARE = 0.5

# --------------------------------------------------------------------------------------------
# Character classes
# --------------------------------------------------------------------------------------------

# Letters that (among languages langdetect knows) only Vietnamese uses: breve a, d with
# stroke, horn o/u, i/u with tilde and the whole Latin Extended Additional Vietnamese range
# (dot below, hook above and stacked circumflex/breve + tone marks).
_VI_ONLY_CHARS = frozenset(
    "ăđơưĩũ" + "".join(chr(c) for c in range(0x1EA0, 0x1EFA) if chr(c).islower())
)

_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+|@\w+", re.IGNORECASE)
# Letter runs, allowing an inner apostrophe ("can't", "neighbour's").
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\w+")

# A Vietnamese syllable with its tone marks and vowel modifiers removed:
# optional onset, then either an open rhyme or a nucleus with an optional final consonant.
_ONSET = r"(?:ngh|ng|gh|gi|kh|ph|th|tr|ch|nh|qu|[bcdghklmnprstvx])?"
_OPEN_RHYME = r"(?:uoi|ieu|yeu|oai|oay|uay|uya|uyu|oeo|ai|ao|au|ay|eo|eu|ia|iu|oi|ua|ui|uu)"
_CLOSABLE = r"(?:uye|ie|ye|oa|oe|oo|uo|uy|ue|ua|a|e|i|o|u|y)"
_CODA = r"(?:ch|ng|nh|c|m|n|p|t)"
_SYLLABLE_RE = re.compile(rf"{_ONSET}(?:{_OPEN_RHYME}|{_CLOSABLE}{_CODA}?)")

# --------------------------------------------------------------------------------------------
# Word lists (general vocabulary, written without diacritics)
# --------------------------------------------------------------------------------------------

# Frequent Vietnamese syllables, everyday and environment-related, without diacritics.
_VI_LEXICON = frozenset(
    """
    toi tui minh ban anh chi em co chu bac ong ba chau con me bo cha ho nguoi dan ai chung
    ta chang no may tao gia dinh hang xom cac nhung moi ca nhau ban be
    la thi ma va voi cua cho de den tu o tai trong ngoai tren duoi sau truoc khi luc nay do
    kia ay ra vao len xuong qua lai di ve bi duoc da dang se van cung deu nua roi chua khong
    gi sao the nao bao nhieu lam rat hon nhat het luon ngay vua cu hay hoac neu vi nen tuy
    du thoi a nhe nha oi ha vay day nhi u ua dau kho ne
    an uong ngu thuc noi hoi biet thay nghe xem nhin goi gui xin cam on muon can phai xu ly
    kiem tra phan khieu nai to cao nghi yeu cau giai quyet chiu dung song chet mo dong dot
    chay xa thai vut tran boc bay phun hut bom thu gom don dep chat cat dao xay sua nuoi
    mua tho hit vai lap lan chim ngap tac nghen sinh thong tin gap giu mat tim hong vo nut
    keo dai lien tuc dien thoai ngui nhan duyet xong giup doi thanh tich ket tap tro
    nuoc khoi bui rac mui khet tieng nhiem truong dat kenh muong rach ranh duong pho hem
    ngo ngach lang phuong quan huyen tinh thon ap khu cum ty doanh nghiep so trai heo lon
    ga vit trau meo tom lo gach than soi xi mang tong sat thep nhua giay go hoa rung
    cay rom ruong lua vuon ruoi muoi chuot gian tieu mau long trang vang xanh nau xam bot
    dem sang trua chieu khuya gio phut tuan thang nam hom mai nang troi lanh nong xe ben
    bon tau thuyen loa nhac hat tiem sieu hoc benh vien tram te tre nho om suc khoe ung
    hen phoi bung nhiet chan tay ngoc can mieng cong ong ranh cuoi dau nguon ho ao
    lon nhieu it dac dam nhe ban sach kinh khung doc hai manh thap gan tot xau dep ngan
    rong hep mu mit am i tham loang nac ngot tanh loat phep luat phat nghiem trai trom
    mot bon tam chin muoi nghin trieu
    uy chinh quyen canh tai nguyen dia hinh phong ban giam doc
    khac tiep tung lon don vi doan nhom thon xom hom kia bua thuong xuyen luon suot
    moi tuong vach mai nha cua so ngo san bep tret lau nen ranh cong nap
    nhuom may mac giat ui che bien thuy hai san thit ca mo mo lo moi ga
    xang dau nhot son dung moi ong khi ga bun dat da cat soi vang
    no min tieng on ao am ot uon tai xe ben ben tai
    vut bua bai tap trung thu gom xu ly chon lap dot lo thieu hu hai mat ve sinh
    """.split()
)

# Vietnamese chat abbreviations ("teencode"), interjections, lower-case acronyms and
# loanwords that are not well-formed syllables but are clearly Vietnamese.
_VI_ABBREVIATIONS = frozenset(
    """
    ko k kg kh hk hok hong hem khong dc dk j r ng ns bt mk mik mn mng ae e a cx cg trc ntn
    vs z zay dzay nx bn sdt cty tp ubnd kcn ccn bql oy uk uhm wa hix hic thik dt ad ak ah uh
    axit clo clip alo
    """.split()
)

# Distinctly English words (function words and frequent complaint vocabulary).
_EN_WORDS = frozenset(
    """
    the a an and or but of to in on at by for from with without into onto over under near
    behind next every each all any some no not this that these those there here it its is
    are was were be been being am has have had do does did can could will would should may
    might must i me my we our us you your he she his her they them their who what when
    hello hi hey yes
    where why how which than then very too also again still just only please help thank
    thanks day days night nights morning evening today tonight week month year hour hours
    smoke smell smells dust noise noisy loud water river lake canal road street house home
    factory plant farm waste trash garbage rubbish burning dumping black white air bad
    terrible strong dirty since until because every someone anyone nobody up out off hot
    cut top hit got get let set yet much so go going come coming send report
    like stink stinks stinky smelly smoky dusty drain drains sewer sewers sewage rotten egg
    eggs odour odor odours fumes fume foul dead fish oily oil chemical chemicals plastic
    pile dump dumped dumps leak leaking pollution polluted construction everywhere music
    """.split()
)

# Tokens that say nothing about the language (brand-like loanwords, units).
_NEUTRAL_WORDS = frozenset(
    """
    ok oke okay karaoke bar pub wifi facebook zalo video covid km cm mm pm
    """.split()
)

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def detect_language(text: str) -> str:
    """ISO code of the text's language as langdetect names it ('vi', 'en', 'zh-cn', 'zh-tw',
    'fr', ...), or 'und' when there is nothing to judge (empty, only digits/punctuation/emoji/
    URLs)."""
    if not text:
        return UNDETERMINED
    cleaned = _URL_RE.sub(" ", unicodedata.normalize("NFC", text))
    letters = [ch for ch in cleaned if ch.isalpha()]
    if not letters:
        return UNDETERMINED

    script = _script_counts(letters)
    if script.cjk / len(letters) >= CJK_SHARE:
        return _detect_cjk(cleaned, script)

    stats = _token_stats(cleaned)
    if stats.tokens and not stats.counted:
        # Only language-neutral words such as "ok" or "karaoke".
        return UNDETERMINED
    if stats.looks_vietnamese():
        return "vi"

    probabilities = _langdetect_probabilities(cleaned)
    best = probabilities[0][0] if probabilities else UNDETERMINED
    if best != "en" and stats.looks_english():
        return "en"
    return best


def reply_locale(text: str) -> str:
    """'vi' or 'en': the locale to answer this text in ('vi' for Vietnamese, 'en' for
    everything else, 'vi' when undecidable)."""
    language = detect_language(text)
    if language in ("vi", UNDETERMINED):
        return "vi"
    return "en"


def normalize_locale(code: str | None) -> str | None:
    """Map a Telegram language_code ('vi', 'vi-VN', 'en', 'en-GB', 'zh-hans', None...) to a
    supported reply locale: 'vi' for Vietnamese, 'en' for any other non-empty code, None when
    code is empty/None."""
    if code is None:
        return None
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    if not primary:
        return None
    return "vi" if primary == "vi" else "en"


# --------------------------------------------------------------------------------------------
# Script analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ScriptCounts:
    han: int
    kana: int
    hangul: int

    @property
    def cjk(self) -> int:
        return self.han + self.kana + self.hangul


def _script_counts(letters: list[str]) -> _ScriptCounts:
    """Count Han, kana and hangul characters."""
    han = kana = hangul = 0
    for ch in letters:
        cp = ord(ch)
        if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF:
            han += 1
        elif 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF:
            kana += 1
        elif 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
            hangul += 1
    return _ScriptCounts(han=han, kana=kana, hangul=hangul)


def _detect_cjk(text: str, script: _ScriptCounts) -> str:
    """Japanese and Korean by script; Chinese variant chosen by langdetect, default zh-cn."""
    if script.kana:
        return "ja"
    if script.hangul > script.han:
        return "ko"
    probabilities = _langdetect_probabilities(text, only=("zh-cn", "zh-tw"))
    if probabilities and probabilities[0][0] == "zh-tw":
        return "zh-tw"
    return "zh-cn"


# --------------------------------------------------------------------------------------------
# Token analysis
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _TokenStats:
    tokens: int = 0  # all word tokens without digits
    counted: int = 0  # tokens that carry language information
    vi_marked: int = 0  # tokens with Vietnamese-only letters
    vi_syllables: int = 0  # well-formed Vietnamese syllables (or chat abbreviations)
    vi_words: int = 0  # common Vietnamese words (or chat abbreviations)
    en_words: int = 0  # distinctly English words
    all_ascii: bool = True

    def looks_vietnamese(self) -> bool:
        """Decide Vietnamese from diacritics or from syllable structure plus vocabulary."""
        if not self.counted:
            return False
        if self.vi_marked / self.counted >= VI_MARKED_SHARE:
            return True
        vi_share = self.vi_words / self.counted
        return (
            self.vi_syllables / self.counted >= VI_SYLLABLE_SHARE
            and vi_share >= VI_LEXICON_SHARE
            and vi_share - self.en_words / self.counted >= VI_OVER_EN_MARGIN
        )

    def looks_english(self) -> bool:
        """Plain ASCII text made mostly of distinctly English words."""
        return (
            self.all_ascii and self.counted >= 1 and self.en_words / self.counted >= EN_WORD_SHARE
        )


def _strip_marks(token: str) -> str:
    """Lower-case the token and remove all diacritics (đ becomes d)."""
    decomposed = unicodedata.normalize("NFD", token.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _is_vi_syllable(bare: str) -> bool:
    """True when a diacritic-free lower-case token has the shape of a Vietnamese syllable."""
    return bool(bare) and _SYLLABLE_RE.fullmatch(bare) is not None


def _token_stats(text: str) -> _TokenStats:
    """Count language evidence in the word tokens of the text."""
    tokens = [tok for tok in _TOKEN_RE.findall(text) if not any(ch.isdigit() for ch in tok)]
    mostly_upper = sum(tok.isupper() for tok in tokens) * 2 > len(tokens)
    stats = _TokenStats(tokens=len(tokens))
    for token in tokens:
        lower = token.lower()
        bare = _strip_marks(lower)
        marked = any(ch in _VI_ONLY_CHARS for ch in lower)
        syllable = _is_vi_syllable(bare)
        if lower in _NEUTRAL_WORDS:
            continue
        # Upper-case acronyms (KCN, EPA, ...) inside normal text carry no signal.
        if not mostly_upper and len(token) > 1 and token.isupper() and not syllable:
            continue
        if not token.isascii():
            stats.all_ascii = False
        stats.counted += 1
        if lower in _VI_ABBREVIATIONS:
            stats.vi_syllables += 1
            stats.vi_words += 1
            continue
        if syllable:
            stats.vi_syllables += 1
            if marked or bare in _VI_LEXICON:
                stats.vi_words += 1
            if marked:
                stats.vi_marked += 1
        if lower in _EN_WORDS:
            stats.en_words += 1
    return stats


# --------------------------------------------------------------------------------------------
# langdetect wrapper
# --------------------------------------------------------------------------------------------

_factory: DetectorFactory | None = None
_factory_lock = threading.Lock()


def _get_factory() -> DetectorFactory:
    """Load langdetect's profiles once (thread-safe) and reuse them for every call."""
    global _factory  # noqa: PLW0603 - module-level lazy singleton
    if _factory is None:
        with _factory_lock:
            if _factory is None:
                factory = DetectorFactory()
                factory.load_profile(PROFILES_DIRECTORY)
                _factory = factory
    return _factory


def _langdetect_probabilities(
    text: str, only: tuple[str, ...] | None = None
) -> list[tuple[str, float]]:
    """langdetect's ranked (language, probability) list; empty when it cannot judge.

    ``only`` restricts the candidates to the given languages via a prior map.
    """
    try:
        detector: Detector = _get_factory().create()
        if only:
            detector.set_prior_map(dict.fromkeys(only, 1.0))
        detector.append(text)
        return [(item.lang, item.prob) for item in detector.get_probabilities()]
    except LangDetectException:
        return []


def reporter_locale(reporter: Reporter, language_code: str | None) -> str:
    """The reply language: the /lang choice, else the language the person types (learnt by
    `learn_language`), else their app's language, else Vietnamese."""
    if reporter.language_chosen and reporter.language:
        return reporter.language
    return reporter.language or normalize_locale(language_code) or "vi"


#: A text is long enough to judge a person's language from (and lock it in) with at least
#: this many words and letters: "alo alo", "ok", "hi" are not.
JUDGE_MIN_WORDS = 3
JUDGE_MIN_LETTERS = 10


def judgeable(text: str) -> bool:
    """Whether `text` is long enough to decide which language its writer reads."""
    cleaned = _URL_RE.sub(" ", text)
    words = [tok for tok in _TOKEN_RE.findall(cleaned) if not any(ch.isdigit() for ch in tok)]
    letters = sum(ch.isalpha() for ch in cleaned)
    return len(words) >= JUDGE_MIN_WORDS and letters >= JUDGE_MIN_LETTERS


def learn_language(reporter: Reporter, event: Event) -> None:
    """Keep the language a person without a /lang choice is answered in.

    What they type wins over their app's setting: a phone set to English whose owner writes
    "chao ban, toi muon phan anh o nhiem" is answered in Vietnamese from then on. Only text
    long enough to judge locks the language in; before any, the app's language is used."""
    text = event.text if event.kind == "text" else None
    if text and judgeable(text):
        language = detect_language(text)
        if language != UNDETERMINED:
            reporter.language = reply_locale(text)
            return
    if reporter.language is None:
        reporter.language = normalize_locale(event.language_code)
