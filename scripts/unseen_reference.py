"""Brute-force reference for the unseen-title subsets (docs/TRAINING.md).

Reads a dataset as EVALUATION.md says, then checks every one of the first N
validation rows against every training row with no index and no filter but
the exact shared-word bound: title key equal, a shared run of 12 words, or a
longest-common-subsequence word ratio >= 0.8. It prints the count of unseen
rows and their positions, which tests/suite/unseen.rs asserts, and how many
rows Python's difflib.SequenceMatcher ratio (Ratcliff-Obershelp, the
protocol's wording) would classify otherwise.

    python3 scripts/unseen_reference.py movies ../shared/data/movies/movies.csv 300
    python3 scripts/unseen_reference.py kslimon ../shared/data/kslimon/Movies_data.csv 300

Standard library only.
"""

import csv
import difflib
import re
import sys
from collections import Counter

RUN = 12


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def norm(text):
    return " ".join(text.split())


def rows(fmt, path):
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if fmt == "movies":
                labels = [g.strip() for g in r["GENRE"].split(",") if g.strip()]
                plot, title = norm(r["ONE-LINE"]), norm(r["MOVIES"])
                if plot.lower().startswith("add a plot"):
                    continue
            else:
                inner = r["genres"].strip().lstrip("[").rstrip("]")
                labels = [g.strip().strip("'\"") for g in inner.split(",")]
                labels = [g for g in labels if g]
                plot, title = norm(r["description"]), None
            if labels and plot:
                yield title, plot


def splits(fmt, path):
    seen, train, validation = set(), [], []
    for title, plot in rows(fmt, path):
        text = f"{title}. {plot}" if title is not None else plot
        if text in seen:
            continue
        seen.add(text)
        h = fnv1a64(text.encode()) % 10
        if h == 1:
            validation.append((title, plot))
        elif h not in (0, 5):
            train.append((title, plot))
    return train, validation


def title_key(title):
    if not title:
        return None
    t = re.sub(r"\s*\(\d{4}\)\s*$", "", title.lower().rstrip())
    t = " ".join("".join(c for c in t if c.isalnum() or c.isspace()).split())
    return t or None


def words(plot):
    return "".join(c if c.isalnum() else " " for c in plot.lower()).split()


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def near(a, b, ca, cb, ratio):
    total = len(a) + len(b)
    if total == 0 or 5 * sum((ca & cb).values()) < 2 * total:
        return False
    return 5 * ratio(a, b) >= 2 * total


def runs(ws):
    return {tuple(ws[i : i + RUN]) for i in range(len(ws) - RUN + 1)}


def main():
    fmt, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    train, validation = splits(fmt, path)
    titles = {title_key(t) for t, _ in train} - {None}
    train_words = [words(p) for _, p in train]
    counts = [Counter(w) for w in train_words]
    train_runs = set().union(*(runs(w) for w in train_words))
    unseen, differ = [], 0
    for index, (title, plot) in enumerate(validation[:n]):
        ws, cw = words(plot), Counter(words(plot))
        by_title = title_key(title) in titles
        by_run = bool(runs(ws) & train_runs)
        by_lcs = any(near(ws, t, cw, c, lcs) for t, c in zip(train_words, counts))
        by_difflib = any(
            near(ws, t, cw, c, lambda a, b: round(difflib.SequenceMatcher(None, a, b).ratio() * (len(a) + len(b)) / 2))
            for t, c in zip(train_words, counts)
        )
        if not (by_title or by_run or by_lcs):
            unseen.append(index)
        if (by_title or by_run or by_lcs) != (by_title or by_run or by_difflib):
            differ += 1
    print(f"{len(unseen)} of {min(n, len(validation))} unseen: {unseen}")
    print(f"rows difflib's ratio would classify otherwise: {differ}")


if __name__ == "__main__":
    main()
