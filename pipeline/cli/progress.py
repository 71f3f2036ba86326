"""The fetch's progress bar, drawn from the day's answers as a run writes them."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from tqdm import tqdm

from pipeline.store.layout import Layout
from pipeline.store.objects import Location

if TYPE_CHECKING:  # the local VOD service is imported by the demo and dev commands only, when they run
    pass


class FetchBar:
    """A terminal progress bar of the fetch a Dagster run is doing, read from the day's answers as they land.

    The answers are flushed in batches of a few hundred videos, so the bar moves in steps.
    """

    def __init__(self, layout: Layout, day: dt.date):
        self.layout, self.day = layout, day
        self.started = time.time()
        self.offset = 0

    def follow(self, run: subprocess.Popen) -> None:
        threading.Thread(target=self._watch, args=(run,), daemon=True).start()

    def _fresh(self, path: Location) -> bool:
        try:
            return path.stat().st_mtime >= self.started - 1
        except FileNotFoundError:
            return False

    def _watch(self, run: subprocess.Popen) -> None:
        width = shutil.get_terminal_size().columns or 100  # a terminal that reports no width gets 100
        with tqdm(desc=f"Fetching {self.day}", unit=" videos", ncols=min(width, 120), leave=True) as bar:
            while run.poll() is None:
                if bar.total is None and self._fresh(self.layout.day_videos(self.day)):
                    with self.layout.day_videos(self.day).open("rb") as videos:
                        bar.total = max(0, sum(1 for _ in videos) - 1)  # less the header
                if self._fresh(self.layout.answers(self.day)):
                    bar.update((bar.total or bar.n) - bar.n)
                    return
                if self._fresh(self.layout.answers_in_progress(self.day)):
                    bar.update(self._new_lines())
                time.sleep(0.5)

    def _new_lines(self) -> int:
        with self.layout.answers_in_progress(self.day).open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        return chunk.count(b"\n")
