"""The step manifests are read with JSON.parse (engine) and json.loads (runtime), which both keep the
last of two equal keys: a second `allOf` in a schema silently dropped every cross-field rule of the
first. No manifest may repeat a key at any depth."""

import json
from pathlib import Path

import pytest

STEPS = Path(__file__).resolve().parents[1]


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate keys: {', '.join(dup)}")
    return dict(pairs)


@pytest.mark.parametrize("manifest", sorted(STEPS.glob("*.json")), ids=lambda p: p.name)
def test_a_manifest_repeats_no_key(manifest):
    json.loads(manifest.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def test_the_check_finds_a_repeated_key():
    with pytest.raises(ValueError, match="duplicate keys: allOf"):
        json.loads('{"schema": {"allOf": [1], "allOf": [2]}}', object_pairs_hook=no_duplicates)
