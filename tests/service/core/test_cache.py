"""The response cache on its own: what the key covers, LRU by bytes, invalidation, read-only answers."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.cache import ENTRY_OVERHEAD, ResponseCache, answer_size

X = {"x": np.arange(8, dtype=np.float32).reshape(2, 4)}


def key(cache: ResponseCache, model="m", version="1", inputs=None, outputs=None) -> bytes:
    return cache.digest(model, version, X if inputs is None else inputs, outputs)


def test_the_key_covers_model_version_and_outputs():
    cache = ResponseCache(1 << 20)
    base = key(cache)
    assert key(cache) == base  # deterministic within a process
    assert key(cache, model="n") != base
    assert key(cache, version="2") != base
    assert key(cache, outputs=frozenset({"y"})) != base
    assert key(cache, outputs=frozenset({"y"})) != key(cache, outputs=frozenset({"y", "z"}))
    assert key(cache, outputs=frozenset()) != base  # none asked for is not "all of them"


def test_the_key_covers_every_input_datatype_shape_and_byte():
    cache = ResponseCache(1 << 20)
    base = key(cache)
    x = X["x"]
    assert key(cache, inputs={"x": x.reshape(4, 2)}) != base  # same bytes, other shape
    assert key(cache, inputs={"x": x.view(np.int32)}) != base  # same bytes, other datatype
    changed = x.copy()
    changed[1, 3] = np.nextafter(changed[1, 3], np.float32(100))  # one bit
    assert key(cache, inputs={"x": changed}) != base
    assert key(cache, inputs={"w": x}) != base  # another input name
    assert key(cache, inputs={"x": np.asfortranarray(x)}) == base  # layout in memory is not content


def test_framing_keeps_names_and_values_apart():
    cache = ResponseCache(1 << 20)
    assert key(cache, model="ab", version="c") != key(cache, model="a", version="bc")
    a = {"t": np.array(["ab", "c"], dtype=object)}
    b = {"t": np.array(["a", "bc"], dtype=object)}
    assert key(cache, inputs=a) != key(cache, inputs=b)
    assert key(cache, inputs=a) == key(cache, inputs={"t": np.array([b"ab", b"c"], dtype=object)})


def test_each_process_draws_its_own_secret():
    assert key(ResponseCache(1)) != key(ResponseCache(1))


def test_a_miss_then_a_hit_returns_the_stored_answer_read_only():
    cache = ResponseCache(1 << 20)
    outputs, ticket = cache.get("m", "1", X, None)
    assert outputs is None
    answer = {"y": np.ones(4, np.float32)}
    assert cache.put(ticket, answer)
    hit, _ = cache.get("m", "1", {"x": X["x"].copy()}, None)
    assert hit is answer
    with pytest.raises(ValueError, match="read-only"):
        hit["y"][0] = 5.0
    assert len(cache) == 1 and cache.bytes == answer_size(answer) == 16 + ENTRY_OVERHEAD


def store(cache: ResponseCache, i: int, floats: int) -> None:
    _, ticket = cache.get("m", "1", {"x": np.array([i], np.float32)}, None)
    cache.put(ticket, {"y": np.zeros(floats, np.float32)})


def test_lru_by_bytes_never_above_the_limit():
    size = 100 * 4 + ENTRY_OVERHEAD
    cache = ResponseCache(3 * size)
    for i in range(3):
        store(cache, i, 100)
    assert len(cache) == 3 and cache.bytes == 3 * size
    cache.get("m", "1", {"x": np.array([0], np.float32)}, None)  # 0 is now the most recently used
    store(cache, 3, 100)
    assert cache.bytes == 3 * size and cache.evictions == 1
    present = [i for i in range(4) if cache.get("m", "1", {"x": np.array([i], np.float32)}, None)[0] is not None]
    assert present == [0, 2, 3]  # 1 was the least recently used
    store(cache, 4, 250)  # a big one pushes out as many as needed
    assert cache.bytes <= cache.limit and cache.evictions == 3 and len(cache) == 2  # 3 and 4 left


def test_an_answer_larger_than_the_cache_is_not_stored():
    cache = ResponseCache(1000)
    _, ticket = cache.get("m", "1", X, None)
    assert not cache.put(ticket, {"y": np.zeros(1000, np.float32)})
    assert len(cache) == 0 and cache.bytes == 0


def test_text_answers_count_their_text():
    text = np.array(["a" * 1000], dtype=object)
    assert answer_size({"t": text}) > 1000 + ENTRY_OVERHEAD


def test_invalidate_drops_one_model_and_refuses_answers_computed_before():
    cache = ResponseCache(1 << 20)
    _, in_flight = cache.get("m", "1", X, None)  # looked up before the reload, computed after it
    _, other = cache.get("n", "1", X, None)
    cache.put(other, {"y": np.ones(2, np.float32)})
    store(cache, 1, 4)
    assert cache.invalidate("m") == 1
    assert cache.get("m", "1", {"x": np.array([1], np.float32)}, None)[0] is None
    assert not cache.put(in_flight, {"y": np.ones(2, np.float32)})  # would be the replaced version's answer
    assert cache.get("n", "1", X, None)[0] is not None  # other models keep theirs
    _, fresh = cache.get("m", "1", X, None)
    assert cache.put(fresh, {"y": np.ones(2, np.float32)})
    assert cache.bytes == 2 * answer_size({"y": np.ones(2, np.float32)})
