"""The text classifier: trained on patient-like texts generated from the graph, plus any
labelled texts the hospital provides (``smartcare triage-train FILE``).

Generated texts combine a disease's findings (more frequent ones more often), in the patient
wording that the graph's synonyms carry, in Chinese and English sentence frames. Labels are the
disease's departments (the main one most often). The model is a TF-IDF over character n-grams
(robust to unsegmented Chinese and to misspelt English) feeding a complement naive Bayes
classifier, which trains in about a second and scores a text in a few milliseconds. It is
cached on disk by the knowledge release and the labelled texts it was trained on, so every app
server trains the same model once. The model file is a pickle, so it is signed with an HMAC keyed
by ``SECRET_KEY`` and a file whose signature does not verify is never unpickled (it is trained
again); ``VAR_DIR/triage`` should still be writable only by smartcare.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from smartcare.triage.graph import PEDIATRIC, Graph
from smartcare.triage.intents import load_intents

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

TRAINING_VERSION = "4"  # change when the generator or the model changes
SEED = 2026
STALE_SECONDS = 3600  # model files of other versions older than this are removed
PER_DISEASE = 36
RANK_SHARE = {1: 1.0, 2: 0.4, 3: 0.2}

ZH_DURATIONS = ["两天", "三天", "一周", "好几天", "半个月", "一个多月", "两年", "今天早上开始"]
EN_DURATIONS = ["two days", "3 days", "a week", "since monday", "a few weeks", "months", "this morning"]
ZH_FRAMES = [
    "{a}", "{a}，{b}", "{a}{d}了", "最近{a}，还{b}", "{a}，{b}，{c}", "我{a}已经{d}了，{b}",
    "医生您好，{a}，{b}，该挂什么科", "{w}{a}，{b}", "{a}伴{b}", "{a}{d}，也有{b}", "{a}反复{d}",
    "这{d}{a}，有时候{b}", "{a}，{b}，不知道怎么回事",
]  # fmt: skip
EN_FRAMES = [
    "{a}", "{a} and {b}", "{a} for {d}", "i have {a} and {b}", "{a}, {b}, {c}",
    "i've had {a} for {d}, also {b}", "{w} has {a} and {b}", "{a} with {b}",
    "what department for {a}", "been having {a} for {d}", "{a} on and off for {d}, sometimes {b}",
]  # fmt: skip
ZH_WHO_ADULT = ["我", "我妈", "我爸", "老公", "老婆", "我奶奶", "我爷爷"]
ZH_WHO_CHILD = ["孩子", "宝宝", "我儿子", "我女儿", "小孩"]
EN_WHO_ADULT = ["my mum", "my dad", "my husband", "my wife", "my grandmother"]
EN_WHO_CHILD = ["my son", "my daughter", "my baby", "my toddler", "my kid"]
ZH_DISEASE_FRAMES = ["我有{x}", "{x}复查", "以前得过{x}，{a}", "确诊{x}，想找医生看看", "{x}，{a}"]
EN_DISEASE_FRAMES = ["i have {x}", "follow up for {x}", "diagnosed with {x}, {a}", "{x} check up"]
ZH_DEPARTMENT_FRAMES = ["想挂{x}", "挂{x}的号", "我要看{x}", "{x}"]
EN_DEPARTMENT_FRAMES = ["i want to see {x}", "book {x}", "{x} appointment"]
ZH_INTENT_FRAMES = ["想{x}", "{x}", "请问{x}挂哪个科", "我想做{x}", "{x}，去哪里看"]
EN_INTENT_FRAMES = ["{x}", "i need {x}", "looking for {x}", "where can i get {x}", "{x} please"]


@dataclass
class Example:
    text: str
    code: str


def _forms(graph: Graph, key: str, english: bool) -> list[str]:
    concept = graph.concepts[key]
    if english:
        return [f.lower() for f in [concept.name_en, *concept.synonyms_en]]
    return [concept.name_zh, *concept.synonyms_zh]


def generate(graph: Graph, per_disease: int = PER_DISEASE, seed: int = SEED) -> list[Example]:
    rng = random.Random(seed)  # noqa: S311 - reproducible training texts, not security
    examples: list[Example] = []
    for key in sorted(graph.diseases):
        disease = graph.diseases[key]
        findings = sorted(disease.findings.items())
        if not findings:
            continue
        weights = [max(f, 0.05) for _, f in findings]
        for code, rank in disease.departments:
            share = RANK_SHARE.get(rank, 0.1)
            child = code in PEDIATRIC
            for _ in range(max(2, round(per_disease * share))):
                english = rng.random() < 0.4
                chosen: list[str] = []
                for _ in range(rng.choice([1, 2, 2, 3, 3])):
                    pick = rng.choices(findings, weights)[0][0]
                    if pick not in chosen:
                        chosen.append(pick)
                words = [rng.choice(_forms(graph, k, english)) for k in chosen]
                while len(words) < 3:
                    words.append(words[-1])
                frames = EN_FRAMES if english else ZH_FRAMES
                who = (
                    (EN_WHO_CHILD if child else EN_WHO_ADULT)
                    if english
                    else (ZH_WHO_CHILD if child else ZH_WHO_ADULT)
                )
                text = rng.choice(frames).format(
                    a=words[0], b=words[1], c=words[2], w=rng.choice(who),
                    d=rng.choice(EN_DURATIONS if english else ZH_DURATIONS),
                )  # fmt: skip
                examples.append(Example(text, code))
            if rank == 1:
                for _ in range(3):
                    english = rng.random() < 0.4
                    frames = EN_DISEASE_FRAMES if english else ZH_DISEASE_FRAMES
                    text = rng.choice(frames).format(
                        x=rng.choice(_forms(graph, key, english)),
                        a=rng.choice(_forms(graph, rng.choice(findings)[0], english)),
                    )
                    examples.append(Example(text, code))
    for concept in graph.concepts.values():
        if concept.type == "department" and concept.code:
            for english, frames in ((False, ZH_DEPARTMENT_FRAMES), (True, EN_DEPARTMENT_FRAMES)):
                for form in _forms(graph, concept.key, english):
                    examples.append(Example(rng.choice(frames).format(x=form), concept.code))
    for intent in load_intents():
        for english, frames, phrases in (
            (False, ZH_INTENT_FRAMES, intent.phrases_zh),
            (True, EN_INTENT_FRAMES, intent.phrases_en),
        ):
            for phrase in phrases:
                for _ in range(2):
                    examples.append(
                        Example(
                            rng.choice(frames).format(x=phrase.lower() if english else phrase), intent.code
                        )
                    )
    return examples


def build_pipeline() -> Pipeline:
    # scikit-learn is imported here, not at module level: it costs about a second, and every
    # process that imports the URL configuration (CLI commands, test workers) would pay it.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2, lowercase=True
                ),
            ),
            ("clf", ComplementNB(alpha=0.3)),
        ]
    )


def model_dir() -> Path:
    path = Path(settings.VAR_DIR) / "triage"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint(graph_version: str, labelled: Iterable[Example]) -> str:
    digest = hashlib.sha256(f"{TRAINING_VERSION}|{graph_version}".encode())
    for example in labelled:
        digest.update(f"\n{example.code}\t{example.text}".encode())
    return digest.hexdigest()[:16]


def train(graph: Graph, labelled: list[Example]) -> Pipeline:
    examples = generate(graph) + labelled * 3  # the hospital's own texts weigh more
    pipeline = build_pipeline()
    pipeline.fit([e.text for e in examples], [e.code for e in examples])
    return pipeline


MAGIC = b"SCTRIAGE1"


def _signature(data: bytes) -> bytes:
    key = hashlib.sha256(b"smartcare.triage.model|" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, data, hashlib.sha256).digest()


def _read_signed(path: Path) -> Pipeline | None:
    """The pickled model, or None when the file is not one we wrote (signature) or unreadable."""
    import joblib

    raw = path.read_bytes()
    head = len(MAGIC) + 32
    if not raw.startswith(MAGIC) or not hmac.compare_digest(raw[len(MAGIC) : head], _signature(raw[head:])):
        log.warning("triage model %s is not signed by this installation, training again", path)
        return None
    try:
        return joblib.load(io.BytesIO(raw[head:]))  # type: ignore[no-any-return]
    except Exception:  # signed but unreadable (another library version): train again
        log.warning("triage model %s unreadable, training again", path)
        return None


def _write_signed(path: Path, model: object) -> None:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    # Write under a unique name, then rename: processes sharing VAR_DIR never read half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(MAGIC + _signature(data) + data)
    Path(temporary).replace(path)


def load_or_train(graph: Graph, labelled: list[Example]) -> tuple[Pipeline, str]:

    version = fingerprint(graph.version, labelled)
    path = model_dir() / f"model-{version}.joblib"
    if path.exists():
        loaded = _read_signed(path)
        if loaded is not None:
            return loaded, version
    pipeline = train(graph, labelled)
    _write_signed(path, pipeline)
    # Old models of other versions go once no process can still be about to read them.
    cutoff = time.time() - STALE_SECONDS
    for old in model_dir().glob("model-*"):
        if old != path and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return pipeline, version
