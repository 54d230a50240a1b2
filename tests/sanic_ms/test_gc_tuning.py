"""``GC_THRESHOLD``: a served app collects its young objects less often, and puts Python's
setting back when it stops, even with several apps served in one process."""

from __future__ import annotations

import gc

import aiohttp
import pytest

from sanic_ms import create_app, gc_tuning
from sanic_ms.serve import serve


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_tune_raises_only_the_young_threshold_and_release_puts_it_back(thresholds):
    _, older, oldest = thresholds
    assert gc_tuning.tune(20_000)
    assert gc.get_threshold() == (20_000, older, oldest)
    gc_tuning.release()
    assert gc.get_threshold() == thresholds


def test_a_threshold_already_higher_is_kept(thresholds):
    gc.set_threshold(100_000, *thresholds[1:])
    assert gc_tuning.tune(20_000)
    assert gc.get_threshold()[0] == 100_000
    gc_tuning.release()
    assert gc.get_threshold()[0] == 100_000


def test_zero_leaves_the_collector_alone(thresholds):
    assert not gc_tuning.tune(0)
    assert gc.get_threshold() == thresholds


def test_the_last_of_several_tuners_restores_and_the_largest_wins(thresholds):
    assert gc_tuning.tune(20_000) and gc_tuning.tune(50_000) and gc_tuning.tune(10_000)
    assert gc.get_threshold()[0] == 50_000
    gc_tuning.release()
    gc_tuning.release()
    assert gc.get_threshold()[0] == 50_000  # one server still runs
    gc_tuning.release()
    assert gc.get_threshold() == thresholds
    gc_tuning.release()  # one release too many changes nothing
    assert gc.get_threshold() == thresholds


async def test_a_served_app_tunes_while_it_runs(database_url, thresholds):
    app = create_app("gc_tuned", {"DATABASE_URL": database_url, "GC_THRESHOLD": 30_000})
    quiet = create_app("gc_default", {"DATABASE_URL": database_url, "GC_THRESHOLD": 0})

    @app.get("/threshold")
    async def threshold(request):
        return {"young": gc.get_threshold()[0]}

    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/threshold") as response:
            assert (await response.json())["data"] == {"young": 30_000}
        async with serve(quiet):  # GC_THRESHOLD = 0: takes no part, restores nothing early
            assert gc.get_threshold()[0] == 30_000
        assert gc.get_threshold()[0] == 30_000
    assert gc.get_threshold() == thresholds
