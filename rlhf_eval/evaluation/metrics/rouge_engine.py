"""Fast ROUGE for many predictions x many references, equal to rouge-score's scorer.

rouge-score's ``RougeScorer.score(target, prediction)`` re-tokenises and re-stems both texts for
every pair and fills a Python O(m*n) LCS table per pair: scoring one summary against 11
references tokenises the summary 11 times and each reference once per summary. Here:

- tokenisation is rouge-score's own ``tokenize.tokenize`` (identical tokens); the Porter stemmer
  is memoised per word, and every text's analysis (tokens, n-gram counts, sentence split,
  LCS match masks) is cached by text, so each reference is processed once for all predictions
  and all checkpoints;
- n-gram overlap uses the same integer counts as rouge-score (``_score_ngrams``), and the
  P/R/F arithmetic calls rouge-score's ``scoring.fmeasure``, so the floats are bit-identical;
- the LCS is *written here*: the bit-parallel LCS of Allison & Dix (1986) / Hyyrö (2004), one
  Python big-int operation per reference token instead of one per table cell. Row i of the bit
  vector V encodes row i of the LCS table: L[i][j] = j - popcount(V_i & (2^j - 1)), so the
  backtrack of rouge-score's ``_backtrack_norec`` (needed for summary-level ROUGE-Lsum, whose
  union-LCS depends on *which* LCS is read out) is reproduced exactly with the same tie rule.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rouge_score import scoring, tokenize as rs_tokenize

ROUGE_N_RE = re.compile(r"rouge([1-9])$")
_CASED_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_CASED_VALID = re.compile(r"^[A-Za-z0-9]+$")
_SPACES = re.compile(r"\s+")


class MemoStemmer:
    """nltk's PorterStemmer with a per-word memo (stemming dominates tokenisation time)."""

    def __init__(self, lowercase: bool = True):
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()
        self._lowercase = lowercase
        self._memo: dict[str, str] = {}

    def stem(self, word: str) -> str:
        out = self._memo.get(word)
        if out is None:
            out = self._stemmer.stem(word, to_lowercase=self._lowercase)
            self._memo[word] = out
        return out


class DefaultTokenizer:
    """rouge-score's default tokeniser (lower-cases, keeps [a-z0-9] runs), memoised stemmer."""

    def __init__(self, use_stemmer: bool):
        self._stemmer = MemoStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        return rs_tokenize.tokenize(text, self._stemmer)


class CasedTokenizer:
    """rouge-score's tokenisation rules without lower-casing (``lowercase=False``).

    rouge-score has no such option (its regex keeps only [a-z0-9] after lower-casing); this mirrors
    ``rouge_score.tokenize.tokenize`` line by line with an [A-Za-z0-9] alphabet, and stems without
    lower-casing. It follows rouge-score's tokenizer interface, so ``RougeScorer(tokenizer=...)``
    accepts it and scores identically.
    """

    def __init__(self, use_stemmer: bool):
        self._stemmer = MemoStemmer(lowercase=False) if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = _SPACES.split(_CASED_NON_ALNUM.sub(" ", text))
        if self._stemmer is not None:
            tokens = [self._stemmer.stem(x) if len(x) > 3 else x for x in tokens]
        return [x for x in tokens if _CASED_VALID.match(x)]


# ----------------------------------------------------------------------------------- LCS core


def match_masks(tokens) -> dict[str, int]:
    """token -> bit mask of its positions in ``tokens`` (bit j = position j)."""
    masks: dict[str, int] = {}
    for j, tok in enumerate(tokens):
        masks[tok] = masks.get(tok, 0) | (1 << j)
    return masks


def lcs_rows(ref, can_masks: dict[str, int], n: int) -> list[int]:
    """Bit-parallel LCS rows V_0..V_m of ``ref`` against a candidate of length ``n``.

    Zero bits of V_i (within n bits) mark the columns j where L[i][j+1] = L[i][j] + 1.
    """
    full = (1 << n) - 1
    v = full
    rows = [v]
    get = can_masks.get
    for tok in ref:
        u = v & get(tok, 0)
        v = ((v + u) | (v - u)) & full
        rows.append(v)
    return rows


def lcs_length(ref, can_masks: dict[str, int], n: int) -> int:
    if not ref or not n:
        return 0
    full = (1 << n) - 1
    v = full
    get = can_masks.get
    for tok in ref:
        u = v & get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return n - v.bit_count()


def lcs_indices(ref, can, can_masks: dict[str, int]) -> list[int]:
    """Indices into ``ref`` of the LCS that rouge-score's ``lcs_ind`` reads out (same ties)."""
    n = len(can)
    if not ref or not n:
        return []
    rows = lcs_rows(ref, can_masks, n)

    def table(i: int, j: int) -> int:  # L[i][j] from row i's bit vector
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    i, j = len(ref), n
    out = []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            out.append(i - 1)
            i -= 1
            j -= 1
        elif table(i, j - 1) > table(i - 1, j):
            j -= 1
        else:
            i -= 1
    out.reverse()
    return out


# ------------------------------------------------------------------------------ text analysis


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    masks: dict[str, int]


@dataclass(frozen=True)
class Analysed:
    tokens: tuple[str, ...]
    masks: dict[str, int]  # LCS match masks when this text is the candidate side
    ngrams: dict[int, Counter]  # n -> n-gram counts (only the requested n)
    sentences: tuple[Sentence, ...] | None  # for rougeLsum
    sentence_counts: Counter | None  # token counts over all sentences (Lsum double counting)


Score = tuple[float, float, float]  # precision, recall, fmeasure (rouge-score's Score order)
ZERO: Score = (0, 0, 0)


def _prf(hits: int, pred_total: int, target_total: int) -> Score:
    precision = hits / pred_total
    recall = hits / target_total
    return precision, recall, scoring.fmeasure(precision, recall)


def score_ngrams(target: Counter, prediction: Counter) -> Score:
    """rouge-score ``_score_ngrams``: the same integer counts and float operations."""
    small, large = (target, prediction) if len(target) <= len(prediction) else (prediction, target)
    hits = 0
    for gram, count in small.items():
        other = large.get(gram)
        if other:
            hits += count if count < other else other
    precision = hits / max(sum(prediction.values()), 1)
    recall = hits / max(sum(target.values()), 1)
    return precision, recall, scoring.fmeasure(precision, recall)


def score_lcs(target: Analysed, prediction: Analysed) -> Score:
    """rouge-score ``_score_lcs`` (rougeL)."""
    if not target.tokens or not prediction.tokens:
        return ZERO
    hits = lcs_length(target.tokens, prediction.masks, len(prediction.tokens))
    return _prf(hits, len(prediction.tokens), len(target.tokens))


def score_summary_lcs(target: Analysed, prediction: Analysed) -> Score:
    """rouge-score ``_summary_level_lcs`` (rougeLsum), section 3.2 of Lin (2004)."""
    refs, cans = target.sentences, prediction.sentences
    if not refs or not cans:
        return ZERO
    m = sum(len(s.tokens) for s in refs)
    n = sum(len(s.tokens) for s in cans)
    if not m or not n:
        return ZERO
    if len(refs) == 1 and len(cans) == 1:
        # One sentence each: the union LCS is one LCS, a common subsequence uses each token at
        # most min(count_ref, count_can) times, so the double-counting guard never fires and
        # hits = |LCS| whichever LCS the backtrack would pick.
        hits = lcs_length(refs[0].tokens, cans[0].masks, len(cans[0].tokens))
        return _prf(hits, n, m)
    counts_r = target.sentence_counts.copy()
    counts_c = prediction.sentence_counts.copy()
    hits = 0
    for r in refs:
        union: set[int] = set()
        for c in cans:
            union.update(lcs_indices(r.tokens, c.tokens, c.masks))
        for idx in sorted(union):
            tok = r.tokens[idx]
            if counts_c[tok] > 0 and counts_r[tok] > 0:
                hits += 1
                counts_c[tok] -= 1
                counts_r[tok] -= 1
    return _prf(hits, n, m)


def ngram_counts(tokens, n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


class RougeEngine:
    """Scores predictions against references with per-text caches (see module docstring)."""

    def __init__(self, rouge_types, tokenizer, sentence_splitter, max_cache: int = 100_000):
        self.rouge_types = tuple(rouge_types)
        self.tokenizer = tokenizer
        self.split = sentence_splitter  # text -> list of sentence strings (rouge-score's get_sents)
        self.ns = sorted({int(ROUGE_N_RE.match(t).group(1)) for t in self.rouge_types
                          if ROUGE_N_RE.match(t)})
        self.need_lsum = "rougeLsum" in self.rouge_types
        self.max_cache = max_cache
        self._cache: dict[str, Analysed] = {}

    def analyse(self, text: str) -> Analysed:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        tokens = tuple(self.tokenizer.tokenize(text))
        sentences = counts = None
        if self.need_lsum:
            sentences = tuple(
                Sentence(tuple(toks), match_masks(toks))
                for toks in (self.tokenizer.tokenize(s) for s in self.split(text)))
            counts = Counter(t for s in sentences for t in s.tokens)
        out = Analysed(tokens=tokens, masks=match_masks(tokens),
                       ngrams={n: ngram_counts(tokens, n) for n in self.ns},
                       sentences=sentences, sentence_counts=counts)
        if len(self._cache) >= self.max_cache:  # bounded memory in long-running processes
            self._cache.clear()
        self._cache[text] = out
        return out

    def score_pair(self, target: Analysed, prediction: Analysed) -> dict[str, Score]:
        """Equal to ``RougeScorer(rouge_types, ...).score(target, prediction)``."""
        out = {}
        for rouge_type in self.rouge_types:
            if rouge_type == "rougeL":
                out[rouge_type] = score_lcs(target, prediction)
            elif rouge_type == "rougeLsum":
                out[rouge_type] = score_summary_lcs(target, prediction)
            else:
                n = int(rouge_type[5:])
                out[rouge_type] = score_ngrams(target.ngrams[n], prediction.ngrams[n])
        return out
