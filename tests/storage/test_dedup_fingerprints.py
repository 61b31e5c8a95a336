"""Text fingerprints: normalization, exact hash, SimHash stability and near-duplicate distance."""

from __future__ import annotations

import subprocess
import sys

from storage.dedup import (
    NEAR_DUPLICATE_THRESHOLD,
    content_hash,
    fingerprint,
    fingerprint_distance,
    hamming,
    is_near_duplicate,
    normalize_text,
    simhash,
    simhash_ext,
)

STORY = (
    "The city council voted on Tuesday to expand the night bus network after a year of "
    "complaints from shift workers who said the last service left too early. The plan adds "
    "four routes, runs buses every twenty minutes until three in the morning and will be "
    "paid for by a small increase in parking charges in the centre. Opponents said the "
    "money would be better spent on repairing the tram line, which has been closed twice "
    "this winter because of ice. The first new routes start in March."
)
OTHER = (
    "A small bakery on the harbour front has won a regional prize for its rye bread, beating "
    "more than forty entries from across the province. The owners, who opened the shop six "
    "years ago with a second-hand oven, said the recipe came from a grandmother and uses a "
    "starter that is older than the building. Queues formed before dawn on Saturday as word "
    "spread, and the bakery sold out by nine. The judges praised the crust and the sour note."
)


def test_normalize_and_hash() -> None:
    assert normalize_text("  Ｈｅｌｌｏ\u00a0 WORLD\n\tStraße ") == "hello world strasse"
    assert content_hash("Hello   world") == content_hash("hello world\n")
    assert content_hash("hello world") != content_hash("hello world!")
    assert len(content_hash("x")) == 64


def test_simhash_is_stable_across_processes() -> None:
    here = simhash(STORY)
    code = "from storage.dedup import simhash; import sys; print(simhash(sys.argv[1]))"
    out = subprocess.run(
        [sys.executable, "-c", code, STORY],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=sys.path[0] or ".",
    )
    assert int(out.stdout) == here
    assert 0 <= here < 2**64
    assert simhash("") == 0 and simhash("one two") != 0


def test_near_duplicates_close_unrelated_far() -> None:
    wire = STORY.replace("on Tuesday", "late on Tuesday") + " (Reporting by the wire desk.)"
    fp = fingerprint(STORY)
    assert len(fp) == 4 and fp[0] == simhash(STORY)
    assert simhash_ext(STORY) == b"".join(v.to_bytes(8, "little") for v in fp[1:])
    assert fingerprint_distance(fp, fingerprint(STORY.upper())) == 0
    assert fingerprint_distance(fp, fingerprint(wire)) <= NEAR_DUPLICATE_THRESHOLD
    assert fingerprint_distance(fp, fingerprint(OTHER)) > NEAR_DUPLICATE_THRESHOLD + 20
    assert is_near_duplicate(STORY, wire) and not is_near_duplicate(STORY, OTHER)
    assert hamming(0, 2**64 - 1) == 64
