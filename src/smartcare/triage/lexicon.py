"""Finding patient words in free text: segmentation, synonyms and negation, Chinese and English.

The dictionary is built from the knowledge graph: every name and synonym of a symptom, sign,
disease, department and population group. Chinese text is segmented with jieba after the
graph's words have been added to its dictionary, so that 拉肚子 or 胸口疼 stay one word; a
match is a run of whole tokens. English text is matched on normalised word n-grams.

A finding is negated only when a negation cue (没有, 不, 无, 未, 否认; "no", "not", "without",
"never", "denies") stands right before it, with nothing between them but words that keep the
denial going (怎么, 明显的, 任何; "any", "signs of", "history of", "have") or other findings of
the same list (没有发烧咳嗽, "no fever or chills"). Anything else ends it: 孩子不小心吞了硬币,
没吃早饭就头晕, "I don't smoke and have chest pain" keep their findings. Red flags depend on
this, so a wrong denial is worse than a missed one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

CJK = re.compile(r"[\u3400-\u9fff]")
# Clause boundaries: punctuation, and contrast words after which a negation no longer applies.
ZH_NEGATION = ("没有", "并无", "否认", "不是", "没", "不", "无", "未")  # longest first
# Between a cue and the finding it denies: 不怎么咳嗽, 没有明显的腹痛, 无任何不适.
ZH_KEEP_DENYING = (
    "明显的", "怎么", "明显", "任何", "什么", "觉得", "感觉", "出现", "发生", "伴有", "伴", "再", "有", "过",
    "太", "很", "的", "、", "和", "及", "或", "也",
)  # fmt: skip
EN_NEGATION = {
    "no", "not", "without", "denies", "deny", "denied", "never", "none", "nor", "neither", "dont",
    "doesnt", "didnt", "havent", "hasnt", "hadnt", "isnt", "arent", "wasnt", "werent", "free",
}  # fmt: skip
EN_KEEP_DENYING = {
    "any", "sign", "signs", "history", "real", "much", "significant", "obvious", "have", "has",
    "had", "experienced", "experiencing", "feel", "feeling", "felt", "get", "been", "having",
    "symptom", "symptoms", "evidence", "recent", "or", "nor", "from", "other", "major", "notice",
    "noticed", "see", "seen", "complaint", "thoughts", "thought", "plans", "plan", "intention",
    "intent", "urge", "urges", "is", "are", "am", "was", "were", "be", "my", "his",
    "her", "their", "your", "our", "the", "a", "an", "its", "of", "some",
}  # fmt: skip
# Words that make a Chinese complaint stronger without changing it: 头很疼 -> 头疼.
ZH_INTENSIFIERS = re.compile(
    r"(?<=[\u3400-\u9fff])(有点儿|有点|有些|非常|特别|十分|比较|一直|老是|总是|经常|剧烈地|剧烈|一阵一阵|一阵阵|阵阵|隐隐|时不时|偶尔|很|好|太|挺|巨|超|老|剧|隐)(?=[\u3400-\u9fff])"
)
FINDINGS = ("symptom", "sign")
EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
EN_MAX_WORDS = 7


def normalise_en_word(word: str) -> str:
    return word.replace("'", "")


# Function words dropped on both sides, so "his face is drooping" meets "face drooping".
EN_STOPWORDS = {
    "is", "are", "am", "was", "were", "be", "been", "being", "my", "his", "her", "their", "your",
    "our", "the", "a", "an", "its", "very", "really", "so", "quite", "bit", "little", "lot", "of",
    "some", "kind", "sort", "just", "all", "getting", "got", "keep",
    "keeps", "kept",
}  # fmt: skip


def en_words(text: str) -> list[tuple[str, int, int]]:
    words = [(normalise_en_word(m.group()), m.start(), m.end()) for m in EN_WORD.finditer(text.lower())]
    return [w for w in words if w[0] not in EN_STOPWORDS]


@dataclass(frozen=True)
class Term:
    """A surface form that names a concept of the graph."""

    key: str  # node id: symptom:..., disease:..., department:..., population_group:...
    kind: str  # node type


@dataclass
class Mention:
    key: str
    kind: str
    surface: str
    start: int
    end: int
    negated: bool = False


@dataclass
class Lexicon:
    zh: dict[str, list[Term]] = field(default_factory=dict)  # surface -> terms
    en: dict[tuple[str, ...], list[Term]] = field(default_factory=dict)  # normalised words -> terms
    en_unordered: dict[frozenset[str], list[Term]] = field(default_factory=dict)  # "speech slurred"
    zh_max: int = 1
    vocabulary: set[str] = field(default_factory=set)  # every English word of the dictionary
    _misspelt: dict[str, str] | None = None  # one-deletion variants -> dictionary word
    _tokenizer: object | None = None
    _gapped: dict[str, list[str]] | None = None  # first character -> forms of 3+ characters

    def add(self, surface: str, term: Term) -> None:
        surface = surface.strip()
        if not surface:
            return
        if CJK.search(surface):
            compact = re.sub(r"\s+", "", surface).lower()
            self.zh.setdefault(compact, [])
            if term not in self.zh[compact]:
                self.zh[compact].append(term)
            self.zh_max = max(self.zh_max, len(compact))
        else:
            words = tuple(w for w, _, _ in en_words(surface))
            self.vocabulary.update(words)
            self._misspelt = None
            if words and len(words) <= EN_MAX_WORDS:
                self.en.setdefault(words, [])
                if term not in self.en[words]:
                    self.en[words].append(term)
            if 2 <= len(set(words)) == len(words) <= 3:
                bag = frozenset(words)
                self.en_unordered.setdefault(bag, [])
                if term not in self.en_unordered[bag]:
                    self.en_unordered[bag].append(term)

    def prepare(self) -> None:
        """Build the tokenizer and the pattern tables now rather than on the first text."""
        self.tokenizer()
        self._gapped_zh("", [])
        self.lemma("warmupword")

    def tokenizer(self) -> object:
        if self._tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            for surface in self.zh:
                tokenizer.add_word(surface, freq=200_000)
            self._tokenizer = tokenizer
        return self._tokenizer

    def segment(self, text: str) -> list[tuple[str, int, int]]:
        """Chinese tokens with their offsets (jieba's ``tokenize``)."""
        return list(self.tokenizer().tokenize(text, HMM=False))  # type: ignore[attr-defined]

    # --- extraction ---------------------------------------------------------------------------

    def find(self, text: str) -> list[Mention]:
        """Every concept named in the text, longest match first, with its negation."""
        mentions = self._find_zh(text) + self._find_en(text)
        mentions.sort(key=lambda m: (m.start, -(m.end - m.start)))
        return mentions

    def _find_zh(self, text: str) -> list[Mention]:
        lowered = text.lower()
        if not CJK.search(lowered):
            return []
        found: list[Mention] = []
        for variant in (lowered, ZH_INTENSIFIERS.sub("", lowered)):
            tokens = self.segment(variant)
            offsets = _offset_map(lowered, variant)
            index = 0
            while index < len(tokens):
                match = None
                # The longest run of whole tokens that is a known surface form.
                for stop in range(min(len(tokens), index + 6), index, -1):
                    surface = variant[tokens[index][1] : tokens[stop - 1][2]]
                    if surface in self.zh:
                        match = (surface, stop)
                        break
                if match is None:
                    index += 1
                    continue
                surface, stop = match
                start, end = offsets[tokens[index][1]], offsets[tokens[stop - 1][2] - 1] + 1
                for term in self.zh[surface]:
                    found.append(Mention(term.key, term.kind, surface, start, end))
                index = stop - 1 if stop - index > 1 else stop  # the last token may start another
        found.extend(self._gapped_zh(lowered, found))
        stripped = ZH_INTENSIFIERS.sub("", lowered)
        if stripped != lowered:  # 下面还有点出血 -> 下面还出血 -> 下面出血
            offsets = _offset_map(lowered, stripped)
            for mention in self._gapped_zh(stripped, []):
                mention.start, mention.end = offsets[mention.start], offsets[mention.end - 1] + 1
                found.append(mention)
        found = _dedupe(found)
        for mention in found:
            mention.negated = _negated_zh(lowered, mention, found)
        return found

    def _gapped_zh(self, text: str, exact: list[Mention]) -> list[Mention]:
        """Forms of three or more characters with up to two extra characters inside, one at a
        time: 脖子僵硬 for 脖子硬, 胸口一直闷 for 胸口闷. An extra character is never a negation or
        punctuation."""
        if self._gapped is None:
            self._gapped = {}
            for surface in self.zh:
                if len(surface) >= 3 and all(CJK.match(char) for char in surface):
                    self._gapped.setdefault(surface[0], []).append(surface)
        covered = {(m.start, m.end) for m in exact}
        found = []
        for start, char in enumerate(text):
            for surface in self._gapped.get(char, ()):
                end = _gapped_end(text, start, surface)
                if end is None or (start, end) in covered or end - start == len(surface):
                    continue
                for term in self.zh[surface]:
                    found.append(Mention(term.key, term.kind, text[start:end], start, end))
        return found

    def lemma(self, word: str) -> str:
        """The dictionary's form of a word: plural and verb endings, then one-letter typos."""
        if word in self.vocabulary or not word.isalpha():
            return word
        for plural in (word + "s", word + "es"):  # "wart" for a dictionary that says "warts"
            if plural in self.vocabulary:
                return plural
        for suffix, replacement in (
            ("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
            ("ied", "y"), ("ly", ""),
        ):  # fmt: skip
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                candidate = word[: -len(suffix)] + replacement
                if candidate in self.vocabulary:
                    return candidate
        if len(word) >= 6:
            if self._misspelt is None:
                self._misspelt = {}
                for known in sorted(self.vocabulary):
                    if len(known) >= 6:
                        for index in range(len(known)):
                            self._misspelt.setdefault(known[:index] + known[index + 1 :], known)
            if word in self._misspelt:  # one letter too few: "diarhea", "swolen"
                return self._misspelt[word]
            for index in range(len(word)):  # one letter too many or wrong: "vomitting", "diarrhoae"
                variant = word[:index] + word[index + 1 :]
                if variant in self.vocabulary:
                    return variant
                if variant in self._misspelt:
                    return self._misspelt[variant]
        return word

    def _find_en(self, text: str) -> list[Mention]:
        words = [(self.lemma(w), start, end) for w, start, end in en_words(text)]
        if not words:
            return []
        lowered = text.lower()
        found: list[Mention] = []
        index = 0
        while index < len(words):
            match = self._ordered_en(words, index)
            if match is None or match[1] == 1:  # "neck is so stiff": a reordered phrase beats one word
                match = self._unordered_en(words, index) or match
            if match is None:
                index += 1
                continue
            terms, size = match
            start, end = words[index][1], words[index + size - 1][2]
            for term in terms:
                found.append(Mention(term.key, term.kind, text[start:end], start, end))
            index += size - 1 if size > 1 else 1  # "chest pain spreading to my arm": overlap one word
        found = _dedupe(found)
        for mention in found:
            mention.negated = _negated_en(lowered, mention, found)
        return found

    def _ordered_en(self, words: list[tuple[str, int, int]], index: int) -> tuple[list[Term], int] | None:
        for size in range(min(EN_MAX_WORDS, len(words) - index), 0, -1):
            key = tuple(w for w, _, _ in words[index : index + size])
            if key in self.en:
                return self.en[key], size
        return None

    def _unordered_en(self, words: list[tuple[str, int, int]], index: int) -> tuple[list[Term], int] | None:
        """Two or three words of a name in another order, at most one word apart: "speech slurred",
        "pain in chest"."""
        for size in (3, 2, 4):
            window = [w for w, _, _ in words[index : index + size]]
            if len(window) < size:
                continue
            choices = [window] if size < 4 else []
            choices += [window[:skip] + window[skip + 1 :] for skip in range(1, size - 1)]
            for choice in choices:
                bag = frozenset(choice)
                if len(bag) == len(choice) and bag in self.en_unordered and choice[-1] == window[-1]:
                    return self.en_unordered[bag], size
        return None


GAP_BLOCKERS = set("不没无未别，,。.;；!！?？、 \n")


def _gapped_end(text: str, start: int, surface: str) -> int | None:
    """Where ``surface`` ends in ``text`` from ``start`` with at most one extra character between
    two of its characters and at most two in all; None when it does not occur there."""
    position, extra = start + 1, 0
    for char in surface[1:]:
        if position < len(text) and text[position] == char:
            position += 1
            continue
        if (
            extra < 2
            and position + 1 < len(text)
            and text[position] not in GAP_BLOCKERS
            and text[position + 1] == char
        ):
            position += 2
            extra += 1
            continue
        return None
    return position


def _offset_map(original: str, variant: str) -> list[int]:
    """For each index of ``variant`` (the text with intensifiers removed), its index in the original."""
    if original == variant:
        return list(range(len(original) + 1))
    mapping, position = [], 0
    for char in variant:
        while position < len(original) and original[position] != char:
            position += 1
        mapping.append(position)
        position += 1
    mapping.append(len(original))
    return mapping


def _dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    seen: dict[tuple[str, int], Mention] = {}
    for mention in mentions:
        key = (mention.key, mention.start)
        if key not in seen or mention.end > seen[key].end:
            seen[key] = mention
    # Drop a mention inside a longer one ("pain" inside "chest pain"), and a second mention of a
    # concept inside a mention of the same concept.
    result = sorted(seen.values(), key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    for mention in result:
        if any(
            k.start <= mention.start
            and mention.end <= k.end
            and (k.key == mention.key or k.end - k.start > mention.end - mention.start)
            for k in result
            if k is not mention
        ):
            continue
        kept.append(mention)
    return kept


# Words that start with a negation character but do not deny a finding (不知道 why, 咳个不停).
ZH_NOT_NEGATION = (
    "不知道", "不清楚", "不确定", "不舒服", "不停", "不断", "不好", "不适", "不住", "不了", "不能",
    "不止", "不行", "不稳", "不退", "不消",
    "不见好", "不对劲", "无法", "无力", "无缘无故", "没劲", "没力", "没胃口", "没精神", "不明原因",
    "不规律", "不规则", "不正常", "不想吃", "不管", "没过", "没好", "没见好", "未愈", "未见好",
)  # fmt: skip


def _negated_zh(text: str, mention: Mention, mentions: list[Mention]) -> bool:
    """Walk back from the finding over words that keep a denial going and over other findings of
    the same list; negated when that walk reaches a negation cue."""
    position = mention.start
    for _ in range(8):
        before = text[:position]
        cue = next((c for c in ZH_NEGATION if before.endswith(c)), None)
        if cue is not None and not text.startswith(ZH_NOT_NEGATION, position - len(cue)):
            return True
        filler = next((f for f in ZH_KEEP_DENYING if before.endswith(f)), None)
        if filler is not None:
            position -= len(filler)
            continue
        previous = next((m for m in mentions if m.end == position and m.kind in FINDINGS), None)
        if previous is not None:
            position = previous.start
            continue
        return False
    return False


def _negated_en(text: str, mention: Mention, mentions: list[Mention]) -> bool:
    words = [
        (m.group().replace("'", ""), m.start(), m.end()) for m in EN_WORD.finditer(text[: mention.start])
    ]
    starts = {m.end: m for m in mentions if m.kind in FINDINGS}
    index = len(words) - 1
    steps = 0
    while index >= 0 and steps < 8:
        steps += 1
        word, _start, end = words[index]
        between = text[end : words[index + 1][1] if index + 1 < len(words) else mention.start]
        if re.search(r"[.;!?,\n]", between):
            return False
        if word in EN_NEGATION:
            return True
        if word in EN_KEEP_DENYING:
            index -= 1
            continue
        previous = starts.get(end)
        if previous is not None:
            while index >= 0 and words[index][1] > previous.start:
                index -= 1
            if index >= 0 and words[index][1] == previous.start:
                index -= 1
            continue
        return False
    return False
