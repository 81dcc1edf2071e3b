# train/tasks/build_tasks.py — builds four small fine-tuning tasks, one per GPT-1 input
# transformation (Radford et al. 2018, Figure 1 right), from Debian-packaged text, offline.
#
#   task        kind              source (Debian package)              example
#   sentiment   classification    r-cran-modeldata small_fine_foods     review -> "great" / "other"
#   hypernym    entailment        wordnet-base data.noun                "dog: <gloss>" => "dog is a
#                                                                       kind of carnivore." -> "entailment"
#   synonym     similarity        wordnet-base data.{noun,verb,adj,adv} "car" ~ "automobile" -> "1"
#   next-line   multiple-choice   r-cran-janeaustenr austen_books()     3 lines of a novel -> which of 4
#                                                                       lines comes next
# Output: OUT/<task>/{train,val,test}.jsonl in the field layout train/task_data.h reads, and
# OUT/manifest.json (sources, sizes, label balance, majority baseline, excluded counts, sha256).
#
# Rules every task follows:
#   - Deterministic: every random choice comes from random.Random seeded with "<task>/<seed>", and
#     no set is iterated without sorting first, so two runs give byte-identical files.
#   - Splits never share the unit an example is built from (a review, a noun, a synset, a chapter),
#     so no test text is seen in training. Labels are balanced exactly, except sentiment's, which
#     are the package's (about 65% "great": report the majority baseline next to any accuracy).
#   - Negatives are made hard on purpose where a surface cue would give the answer away (a word
#     of the premise, a shared prefix): see each task's notes in manifest.json.
#   - Held-out text never appears in the pre-training corpus: with --exclude-corpus, an example is
#     dropped when any of its texts shares an 8-word span with the corpus (8-word shingles of
#     lower-cased words, the usual n-gram contamination check; GPT-3 used 13). Texts shorter than
#     8 words (single WordNet words, most hypotheses) can never be dropped. Examples are built
#     first and filtered after, so a run with a corpus gives the files of a run without one, minus
#     the dropped lines. A task whose source is the corpus itself loses every example (next-line
#     against the demo's Austen corpus): its files are written empty and the manifest says so.
#   - Files are written to a temporary name and renamed, so an interrupted run never leaves half
#     a file.
# What it is not: a downloader (everything comes from installed packages; make_tasks.sh installs
# them and runs export_r.R first), or a benchmark with published baselines — these are teaching
# tasks sized so that the tiny model fine-tunes on a CPU in a minute or two.
# Read next: train/task_data.h (the reader), gpt/tasks.h (how each kind becomes token sequences).
# Usage: python3 build_tasks.py --r-export DIR --wordnet DIR --out OUT [--exclude-corpus FILE ...]

import argparse
import hashlib
import html
import json
import os
import random
import re
import sys
import time

SIZES = {"train": 4000, "val": 500, "test": 1000}  # the target number of examples per split
SPLITS = ("train", "val", "test")
SHINGLE_WORDS = 8  # the length of a verbatim span that counts as overlap with the corpus


class TaskError(Exception):
    """A missing or malformed source; main() prints it and exits 1."""


# ---------------------------------------------------------------------------------------------
# Small helpers: reading, writing, normalising.


def read_tsv(path, header):
    """Rows of a TSV written by export_r.R, after checking its header line."""
    if not os.path.isfile(path):
        raise TaskError(f"{path}: missing (export_r.R writes it; run make_tasks.sh)")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].split("\t") != header:
        found = lines[0] if lines else "an empty file"
        raise TaskError(f"{path}: expected header {header}, found {found!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise TaskError(f"{path}:{number}: expected {len(header)} tab-separated fields, found {len(fields)}")
        rows.append(fields)
    return rows


def write_atomic(path, text):
    """Writes `text` to `path` through `path`.tmp and a rename: all of it or nothing."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def jsonl(examples):
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)


def squash(text):
    """Collapses runs of whitespace to one space and strips the ends."""
    return " ".join(text.split())


def words_of(text):
    """Lower-cased words, punctuation dropped: the unit of the overlap check."""
    return re.findall(r"[^\W_]+", text.lower())


def shingles(words):
    return (" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1))


def example_texts(example):
    """Every text of an example, whatever its kind (the label is not text)."""
    out = []
    for key, value in example.items():
        if key == "label":
            continue
        out.extend(value if isinstance(value, list) else [value])
    return out


def split_sizes(n_available, task):
    """Test, then val, then train are filled in that order, so a short pool shrinks train first."""
    sizes = {}
    left = n_available
    for split in ("test", "val", "train"):
        sizes[split] = min(SIZES[split], left)
        left -= sizes[split]
    if sizes["test"] < SIZES["test"] or sizes["val"] < SIZES["val"]:
        raise TaskError(f"{task}: only {n_available} usable items, need at least {SIZES['test'] + SIZES['val']}")
    return sizes


# ---------------------------------------------------------------------------------------------
# The pre-training corpus, as a set of 8-word shingles.


def corpus_shingles(paths):
    """All 8-word shingles of the corpus files. A fortune file's '%' lines separate entries, and a
    shingle never crosses one (a plain text file is one entry)."""
    seen = set()
    for path in paths:
        if not os.path.isfile(path):
            raise TaskError(f"--exclude-corpus: {path} is not a readable file")
        with open(path, encoding="utf-8", errors="replace") as f:
            entries = re.split(r"(?m)^%$", f.read())
        for entry in entries:
            seen.update(shingles(words_of(entry)))
    return seen


def overlaps_corpus(example, corpus):
    return any(s in corpus for text in example_texts(example) for s in shingles(words_of(text)))


# ---------------------------------------------------------------------------------------------
# Task 1, sentiment (classification): modeldata's small_fine_foods, the package's own split.


def clean_review(text):
    """Amazon reviews carry HTML: <br /> and links become spaces, entities become characters."""
    return squash(html.unescape(re.sub(r"<[^>]*>", " ", text)))


def build_sentiment(r_dir, seed):
    rng = random.Random(f"sentiment/{seed}")
    notes = []
    package_split = {}
    for name in ("train", "test"):
        rows = read_tsv(os.path.join(r_dir, f"sentiment_{name}.tsv"), ["score", "review"])
        package_split[name] = [{"text": clean_review(review), "label": score} for score, review in rows]
    labels = sorted({e["label"] for rows in package_split.values() for e in rows})
    if labels != ["great", "other"]:
        raise TaskError(f"sentiment: expected scores ['great', 'other'], found {labels}")

    # The same review can occur twice (27 times in modeldata 1.1.0); keep the first copy only,
    # training data first, so that no test review is also a training review.
    seen = set()
    for name in ("train", "test"):
        kept = []
        for e in package_split[name]:
            key = e["text"].lower()
            if key not in seen and e["text"]:
                seen.add(key)
                kept.append(e)
        if len(kept) < len(package_split[name]):
            dropped = len(package_split[name]) - len(kept)
            notes.append(f"{dropped} duplicate or empty reviews dropped from {name}ing_data")
        package_split[name] = kept

    # Validation: SIZES["val"] reviews of training_data drawn with the seed; both parts keep the
    # package's order.
    train_rows = package_split["train"]
    val_index = set(rng.sample(range(len(train_rows)), SIZES["val"]))
    splits = {
        "train": [e for i, e in enumerate(train_rows) if i not in val_index],
        "val": [e for i, e in enumerate(train_rows) if i in val_index],
        "test": package_split["test"],
    }
    notes.append("train/val: training_data less a seeded sample of 500; test: testing_data (the package's split)")
    source = "Debian r-cran-modeldata: small_fine_foods (training_data, testing_data), review -> score"
    return splits, source, notes


# ---------------------------------------------------------------------------------------------
# WordNet 3.0 (wordnet-base): the data.* and index.* files, see wndb(5WN).

WN_POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


class Synset:
    __slots__ = ("key", "words", "pointers", "definition")

    def __init__(self, key, words, pointers, definition):
        self.key = key  # (pos, offset): pos is n, v, a (satellites 's' included) or r
        self.words = words  # lemmas as written, "_" turned into " ", adjective markers removed
        self.pointers = pointers  # [(symbol, key)]: "@" hypernym, "~" hyponym, "!" antonym, ...
        self.definition = definition  # the gloss without its quoted examples


def wn_pos(pos):
    return "a" if pos == "s" else pos


def read_wordnet(wn_dir):
    """Synsets by key, and per POS each lemma's synset keys (most frequent sense first) with
    the number of its senses that occur in the sense-tagged corpus (tagsense_cnt)."""
    synsets = {}
    index = {}
    for pos, name in WN_POS.items():
        data_path = os.path.join(wn_dir, f"data.{name}")
        index_path = os.path.join(wn_dir, f"index.{name}")
        for path in (data_path, index_path):
            if not os.path.isfile(path):
                raise TaskError(f"{path}: missing (Debian package wordnet-base)")
        with open(data_path, encoding="ascii") as f:
            for number, line in enumerate(f, start=1):
                if line.startswith("  "):  # the licence at the top of the file
                    continue
                try:
                    # offset lex_filenum ss_type w_cnt (word lex_id)*w_cnt p_cnt
                    # (symbol offset pos source/target)*p_cnt [frames] | gloss
                    head, _, gloss = line.partition(" | ")
                    f_ = head.split()
                    offset, w_cnt = f_[0], int(f_[3], 16)
                    words = [re.sub(r"\([a-z]+\)$", "", f_[4 + 2 * i]).replace("_", " ") for i in range(w_cnt)]
                    at = 4 + 2 * w_cnt
                    p_cnt = int(f_[at])
                    pointers = []
                    for i in range(p_cnt):
                        symbol, target, target_pos = f_[at + 1 + 4 * i : at + 4 + 4 * i]
                        pointers.append((symbol, (wn_pos(target_pos), target)))
                except (IndexError, ValueError) as err:
                    raise TaskError(f"{data_path}:{number}: not a WordNet 3.0 synset line ({err})") from None
                # The gloss is a definition, then quoted examples after "; " (sometimes ": ").
                definition = re.split(r'[;:] *"', gloss.strip())[0].rstrip("; ")
                if definition.count('"') % 2:  # a few glosses end in a stray quote
                    definition = definition.rstrip('"')
                key = (pos, offset)
                synsets[key] = Synset(key, words, pointers, definition)
        index[pos] = {}
        with open(index_path, encoding="ascii") as f:
            for number, line in enumerate(f, start=1):
                if line.startswith("  "):
                    continue
                # lemma pos synset_cnt p_cnt (symbol)*p_cnt sense_cnt tagsense_cnt (offset)*synset_cnt
                f_ = line.split()
                try:
                    synset_cnt, p_cnt = int(f_[2]), int(f_[3])
                    tagged = int(f_[5 + p_cnt])
                    offsets = f_[6 + p_cnt : 6 + p_cnt + synset_cnt]
                except (IndexError, ValueError) as err:
                    raise TaskError(f"{index_path}:{number}: not a WordNet 3.0 index line ({err})") from None
                index[pos][f_[0].replace("_", " ")] = ([(pos, o) for o in offsets], tagged)
    return synsets, index


def plain_lemma(word, max_words=3):
    """A lower-case lemma of letters, spaces, hyphens and apostrophes: no proper nouns, numbers
    or long phrases."""
    return re.fullmatch(r"[a-z][a-z' -]*[a-z]", word) is not None and len(word.split()) <= max_words


def related(synset, symbols):
    return sorted(k for s, k in synset.pointers if s in symbols)


# ---------------------------------------------------------------------------------------------
# Task 2, hypernym (entailment): does "X is a kind of Y." follow from X's definition?


MIN_TARGET_DEPTH = 3  # no "entity", "physical entity", "abstraction", "object", ... as Y
GENUS_END = re.compile(r"[(,:]|\b(?:of|that|which|who|whom|whose|with|without|for|in|on|at|by|to|from|as|into|"
                       r"used|having|especially|usually|when|where|consisting|containing|made)\b")


def build_hypernym(synsets, index, seed):
    rng = random.Random(f"hypernym/{seed}")
    nouns = {k: s for k, s in synsets.items() if k[0] == "n"}

    # Depth below the root ("entity"), by the shortest hypernym path (instances included).
    depth = {}

    def depth_of(key):
        if key not in depth:
            ups = related(nouns[key], ("@", "@i"))
            depth[key] = 0 if not ups else 1 + min(depth_of(u) for u in ups)
        return depth[key]

    ancestors = {}  # every synset above, at any distance, by every path

    def ancestors_of(key):
        if key not in ancestors:
            out = set()
            for u in related(nouns[key], ("@", "@i")):
                out.add(u)
                out |= ancestors_of(u)
            ancestors[key] = frozenset(out)
        return ancestors[key]

    sys.setrecursionlimit(10000)
    for key in sorted(nouns):
        depth_of(key)
        ancestors_of(key)
    hyponyms = {}
    for key in sorted(nouns):
        for u in related(nouns[key], ("@",)):
            hyponyms.setdefault(u, []).append(key)

    def name(key):
        return nouns[key].words[0].lower()

    def is_clean_negative(x, word):
        """No noun sense of `word` is X itself or above X (an ambiguous word could be right)."""
        if word not in index["n"]:
            return True
        above = ancestors[x] | {x}
        return not any(k in above for k in index["n"][word][0])

    def levels_above(x, n):
        """[hypernyms 1 step up, 2 steps up, ..., n steps up], kind-of links only."""
        levels, frontier = [], [x]
        for _ in range(n):
            frontier = sorted({u for k in frontier for u in related(nouns[k], ("@",))})
            levels.append(frontier)
        return levels

    def positive_targets(x):
        """The usable hypernyms 1, 2 or 3 steps up, by distance (empty distances left out)."""
        levels = [[u for u in level if depth[u] >= MIN_TARGET_DEPTH and plain_lemma(name(u)) and name(u) != name(x)]
                  for level in levels_above(x, 3)]
        return [level for level in levels if level]

    # X: the most frequent sense of each sense-tagged common noun, one lemma per synset, and only
    # those with a usable hypernym (instances like "Paris" have none: they are not kinds).
    claimed, pool = set(), []
    for lemma in sorted(index["n"]):
        keys, tagged = index["n"][lemma]
        x = keys[0]
        if tagged < 1 or x in claimed or not plain_lemma(lemma, 2):
            continue
        if lemma not in [w.lower() for w in nouns[x].words if w == w.lower()]:
            continue  # the lemma is capitalised in its synset: a proper noun
        if not related(nouns[x], ("@",)) or not nouns[x].definition or not positive_targets(x):
            continue
        claimed.add(x)
        pool.append((lemma, x))
    target_pool = sorted({u for _, x in pool for level in positive_targets(x) for u in level})
    target_names = {name(u) for u in target_pool}

    rng.shuffle(pool)
    sizes = split_sizes(len(pool), "hypernym")
    splits, start = {}, 0
    for split in ("test", "val", "train"):
        chosen = pool[start : start + sizes[split]]
        start += sizes[split]
        examples = []
        for i, (lemma, x) in enumerate(chosen):
            # Half entailment. The other half: near misses, a sibling of X or of one of its
            # hypernyms ("dog is a kind of feline."); traps, another noun of X's own definition
            # ("fishmonger: someone who sells fish" => "fishmonger is a kind of fish."), so that
            # "Y occurs in the premise" is not the answer; and random target words.
            negatives = ("near", "trap", "random")
            kind = "entailment" if i % 2 == 0 else negatives[(i // 2) % len(negatives)]
            y = None
            if kind == "entailment":
                level = rng.choice(positive_targets(x))
                y = name(rng.choice(level))
            if kind == "trap":
                # Never from the opening words of a definition (of each "; " part, up to "of",
                # "that", "(", ...): they name the genus, the hypernym in other words ("patter:
                # plausible glib talk", "abuse: cruel or inhumane treatment").
                genus, rest = set(), []
                for part in re.sub(r"^\([^)]*\) *", "", nouns[x].definition.lower()).split(";"):
                    head, *tail = GENUS_END.split(part, maxsplit=1)
                    genus.update(words_of(head))
                    rest += words_of(tail[0]) if tail else []
                phrases = set(rest) | {" ".join(p) for p in zip(rest, rest[1:])}
                traps = [w for w in sorted(phrases & target_names)
                         if w != lemma and not genus & set(w.split()) and is_clean_negative(x, w)]
                if traps:
                    y = rng.choice(traps)
                else:
                    kind = "near"
            if kind == "near":
                ups = [x] + [u for level in levels_above(x, 2) for u in level]
                near = sorted({s for a in ups for p in related(nouns[a], ("@",)) for s in hyponyms.get(p, [])})
                near = [s for s in near if s not in ancestors[x] and s != x and x not in ancestors[s]
                        and depth[s] >= MIN_TARGET_DEPTH and plain_lemma(name(s)) and is_clean_negative(x, name(s))]
                if near:
                    y = name(rng.choice(near))
                else:
                    kind = "random"
            if kind == "random":
                for _ in range(100):
                    candidate = name(rng.choice(target_pool))
                    if candidate != lemma and is_clean_negative(x, candidate):
                        y = candidate
                        break
            if y is None:
                raise TaskError(f"hypernym: found no {kind} target for {lemma!r}")
            examples.append({
                "premise": f"{lemma}: {nouns[x].definition}",
                "hypothesis": f"{lemma} is a kind of {y}.",
                "label": "entailment" if kind == "entailment" else "not_entailment",
            })
        splits[split] = examples
    notes = [
        f"{len(pool)} nouns usable (most frequent sense of sense-tagged common nouns); split by noun",
        "labels: entailment = a hypernym 1-3 steps up; not_entailment = 1/3 each near misses (a sibling of "
        "the noun or of a hypernym), traps (a later noun of the definition), random hypernym words; "
        "a negative is never any sense above the noun",
    ]
    source = "Debian wordnet-base: WordNet 3.0 data.noun (hypernym pointers, glosses), index.noun"
    return splits, source, notes


# ---------------------------------------------------------------------------------------------
# Task 3, synonym (similarity): do two words share a WordNet synset?


def build_synonym(synsets, index, seed):
    rng = random.Random(f"synonym/{seed}")
    word_synsets = {}  # lemma -> every synset it is in, any POS
    for pos in sorted(index):
        for lemma in sorted(index[pos]):
            word_synsets.setdefault(lemma, set()).update(index[pos][lemma][0])
    tagged_synsets = {k for pos in index for keys, tagged in index[pos].values() for k in keys[:tagged]}

    def lemmas(key):
        out = []
        for w in synsets[key].words:
            if w == w.lower() and plain_lemma(w) and w not in out:
                out.append(w)
        return out

    # Anchors: sense-tagged synsets with at least two plain lemmas; one example each.
    pool = sorted(k for k in tagged_synsets if len(lemmas(k)) >= 2)
    positive_words = {}  # POS -> the words that synonym pairs use, the pool of random negatives
    for k in pool:
        positive_words.setdefault(k[0], set()).update(lemmas(k))
    positive_words = {pos: sorted(ws) for pos, ws in positive_words.items()}

    # Lookalikes: the words of the same POS that begin with the same 3 letters or share a word.
    alike = {}  # (pos, "3 letters" or "word ") -> words
    for pos, ws in positive_words.items():
        for w in ws:
            for key in [w[:3]] + [t + " " for t in w.split()]:
                alike.setdefault((pos, key), []).append(w)

    def lookalikes(pos, a):
        return sorted({w for key in [a[:3]] + [t + " " for t in a.split()] for w in alike.get((pos, key), [])})

    def never_synonyms(a, b):
        return a != b and not (word_synsets.get(a, set()) & word_synsets.get(b, set()))

    rng.shuffle(pool)
    sizes = split_sizes(len(pool), "synonym")
    splits, start, pairs_seen = {}, 0, set()
    for split in ("test", "val", "train"):
        examples = []
        while len(examples) < sizes[split]:
            if start >= len(pool):
                raise TaskError(f"synonym: ran out of synsets filling {split}")
            key = pool[start]
            start += 1
            ws = lemmas(key)
            # Half synonyms. The other half: related words that are not synonyms (hypernym,
            # hyponym, sibling, antonym: "car" / "vehicle"); lookalikes, words that begin alike
            # or share a word ("firm" / "firmament"), because many synonym pairs do ("business
            # firm" / "firm"); and random words from synonym pairs.
            negatives = ("related", "lookalike", "related", "random")
            i = len(examples)
            kind = "1" if i % 2 == 0 else negatives[(i // 2) % len(negatives)]
            a, b = rng.sample(ws, 2)
            if kind == "lookalike":
                words = [w for w in lookalikes(key[0], a) if never_synonyms(a, w)]
                if words:
                    b = rng.choice(words)
                else:
                    kind = "related"
            if kind == "related":
                s = synsets[key]
                near = related(s, ("@", "~", "!"))
                near += [c for p in related(s, ("@",)) for c in related(synsets[p], ("~",)) if c != key]
                words = sorted({w for n in near for w in lemmas(n) if never_synonyms(a, w)})
                if words:
                    b = rng.choice(words)
                else:
                    kind = "random"
            if kind == "random":
                b = None
                for _ in range(100):
                    candidate = rng.choice(positive_words[key[0]])
                    if never_synonyms(a, candidate):
                        b = candidate
                        break
                if b is None:
                    continue
            pair = tuple(sorted((a, b)))
            if pair in pairs_seen:
                continue
            pairs_seen.add(pair)
            examples.append({"text_a": a, "text_b": b, "label": "1" if kind == "1" else "0"})
        splits[split] = examples
    notes = [
        f"{len(pool)} anchor synsets (sense-tagged, two or more plain lemmas); split by synset, no pair repeated",
        "labels: 1 = two lemmas of one synset; 0 = 1/2 related words (hypernym, hyponym, sibling, antonym), "
        "1/4 lookalikes (same first 3 letters or a shared word), 1/4 random words drawn from the synonym "
        "pairs; a 0 pair shares no synset in any part of speech",
    ]
    source = "Debian wordnet-base: WordNet 3.0 data.{noun,verb,adj,adv}, index.* (synsets and pointers)"
    return splits, source, notes


# ---------------------------------------------------------------------------------------------
# Task 4, next-line (multiple choice): which of four lines continues a passage of Jane Austen?


CONTEXT_LINES = 3
CANDIDATES = 4


def build_next_line(r_dir, seed):
    rng = random.Random(f"next-line/{seed}")
    rows = read_tsv(os.path.join(r_dir, "austen.tsv"), ["book", "text"])

    # Chapters: the lines after a "CHAPTER n" / "Chapter n" heading, up to the next one. The title
    # pages before the first chapter are left out.
    chapters, current = [], None  # [(book, number, [line, ...])]
    for book, text in rows:
        if current is None or book != current[0]:
            current = (book, 0, None)
        if re.fullmatch(r"(CHAPTER|Chapter) +[0-9IVXLC]+\.?", text.strip()):
            current = (book, current[1] + 1, [])
            chapters.append(current)
        elif current[2] is not None:
            current[2].append(squash(text))
    if not chapters:
        raise TaskError("next-line: austen.tsv has no CHAPTER headings")

    # Windows: inside one paragraph (a run of non-empty lines), CONTEXT_LINES lines and the line
    # after them, not overlapping. The answer is therefore never a paragraph's first line, and the
    # distractors come from the same kind of line (the 4th, 8th, ... of a paragraph).
    def windows(lines):
        out, paragraph = [], []
        for line in lines + [""]:
            if line:
                paragraph.append(line)
                continue
            for j in range(0, len(paragraph) - CONTEXT_LINES, CONTEXT_LINES + 1):
                out.append((paragraph[j : j + CONTEXT_LINES], paragraph[j + CONTEXT_LINES]))
            paragraph = []
        return out

    # Split by chapter, novel by novel: 15% of its chapters for test, 10% for val, the rest for
    # train, so every novel has chapters in every split (at least 2: see the distractors below).
    chapter_split = {}
    for book in sorted({b for b, _, _ in chapters}):
        order = [c for c in range(len(chapters)) if chapters[c][0] == book]
        rng.shuffle(order)
        n_test, n_val = max(2, round(0.15 * len(order))), max(2, round(0.10 * len(order)))
        if len(order) < n_test + n_val + 2:
            raise TaskError(f"next-line: {book} has {len(order)} chapters, too few to split")
        for rank, c in enumerate(order):
            chapter_split[c] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"

    splits = {}
    for split in SPLITS:
        items = [(c, w) for c in range(len(chapters)) if chapter_split[c] == split for w in windows(chapters[c][2])]
        if len(items) < SIZES[split]:
            raise TaskError(f"next-line: {split} has {len(items)} windows, need {SIZES[split]}")
        chosen = sorted(rng.sample(range(len(items)), SIZES[split]))
        examples = []
        for i, pick in enumerate(chosen):
            c, (context, answer) = items[pick]
            # Distractors: answers of other chapters of the same novel in the same split, so that
            # the book's names and style give nothing away and no other split's text is used.
            book = chapters[c][0]
            distractors = []
            for _ in range(100000):
                other_c, (_, line) = items[rng.randrange(len(items))]
                taken = [answer.lower()] + [d.lower() for d in distractors]
                if other_c != c and chapters[other_c][0] == book and line.lower() not in taken:
                    distractors.append(line)
                    if len(distractors) == CANDIDATES - 1:
                        break
            else:
                raise TaskError(f"next-line: found no {CANDIDATES - 1} distractors for a line of {book}")
            label = i % CANDIDATES  # the right answer's place, exactly balanced over the split
            candidates = distractors[:label] + [answer] + distractors[label:]
            examples.append({"context": " ".join(context), "candidates": candidates, "label": label})
        splits[split] = examples
    notes = [
        f"{len(chapters)} chapters of six novels, split by chapter within each novel: "
        + ", ".join(f"{sum(1 for v in chapter_split.values() if v == sp)} {sp}" for sp in SPLITS),
        f"context: {CONTEXT_LINES} consecutive lines of one paragraph; candidates: the next line and "
        f"{CANDIDATES - 1} such lines from other chapters of the same novel and split; label: index 0-3",
    ]
    source = "Debian r-cran-janeaustenr: austen_books() (the six novels, Project Gutenberg text)"
    return splits, source, notes


# ---------------------------------------------------------------------------------------------


def balance(examples):
    counts = {}
    for e in examples:
        counts[str(e["label"])] = counts.get(str(e["label"]), 0) + 1
    return dict(sorted(counts.items()))


def main():
    parser = argparse.ArgumentParser(description="Builds kiso's fine-tuning tasks from Debian-packaged text.")
    parser.add_argument("--r-export", required=True, help="the directory export_r.R wrote")
    parser.add_argument("--wordnet", default="/usr/share/wordnet", help="WordNet 3.0 dict directory")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--exclude-corpus", nargs="*", default=[], metavar="FILE",
                        help="pre-training text: drop examples sharing an 8-word span with it")
    args = parser.parse_args()
    started = time.time()

    corpus_files = sorted(args.exclude_corpus)
    corpus = corpus_shingles(corpus_files)
    synsets, index = read_wordnet(args.wordnet)
    builders = {
        "sentiment": ("classification", lambda: build_sentiment(args.r_export, args.seed)),
        "hypernym": ("entailment", lambda: build_hypernym(synsets, index, args.seed)),
        "synonym": ("similarity", lambda: build_synonym(synsets, index, args.seed)),
        "next-line": ("multiple-choice", lambda: build_next_line(args.r_export, args.seed)),
    }

    manifest = {
        "seed": args.seed,
        "exclude_corpus": {
            "files": corpus_files,
            "rule": f"an example is dropped when any of its texts shares a {SHINGLE_WORDS}-word span "
                    "(lower-cased words, punctuation ignored) with a corpus entry",
            "shingles": len(corpus),
        },
        "tasks": {},
    }
    print(f"{'task':10} {'kind':16} {'train':>6} {'val':>5} {'test':>5}  {'excluded':>8}  test balance (majority)")
    for task, (kind, build) in builders.items():
        splits, source, notes = build()
        task_dir = os.path.join(args.out, task)
        os.makedirs(task_dir, exist_ok=True)
        entry = {"kind": kind, "source": source, "notes": notes, "splits": {}}
        for split in SPLITS:
            kept = [e for e in splits[split] if not overlaps_corpus(e, corpus)] if corpus else splits[split]
            text = jsonl(kept)
            write_atomic(os.path.join(task_dir, f"{split}.jsonl"), text)
            counts = balance(kept)
            entry["splits"][split] = {
                "examples": len(kept),
                "excluded": len(splits[split]) - len(kept),
                "labels": counts,
                # None when the corpus took every example (the demo's Austen corpus and next-line)
                "majority_baseline": round(max(counts.values()) / len(kept), 4) if kept else None,
                "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            }
        manifest["tasks"][task] = entry
        s = entry["splits"]
        excluded = sum(v["excluded"] for v in s.values())
        test_majority = s["test"]["majority_baseline"]
        print(f"{task:10} {kind:16} {s['train']['examples']:6} {s['val']['examples']:5} {s['test']['examples']:5}  "
              f"{excluded:8}  " + (f"{s['test']['labels']} ({test_majority:.1%})" if test_majority is not None
                                   else "(none left: its text overlaps the corpus)"))
    write_atomic(os.path.join(args.out, "manifest.json"), json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}/<task>/{{train,val,test}}.jsonl and manifest.json in {time.time() - started:.1f} s")


if __name__ == "__main__":
    try:
        main()
    except TaskError as err:
        print(f"build_tasks.py: {err}", file=sys.stderr)
        sys.exit(1)
