"""Progress bars: off where the runner sets TQDM_DISABLE or the caller says so."""

from helpers.report.progress import bars_enabled, progress_bar


def test_bars_follow_the_runner_and_the_caller(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert bars_enabled() and not bars_enabled(progress=False)
    with progress_bar(range(3), desc="x") as bar:
        assert not bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not bars_enabled()
    with progress_bar(range(3), desc="x") as bar:
        assert bar.disable and list(bar) == [0, 1, 2]
