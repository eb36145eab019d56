"""Data loading: seconds to scan and decode the 60,000-image CIFAR-10 folder."""

from __future__ import annotations

import time
from typing import Any

from bench import common

GOAL_SECONDS = 6.0


def run_loading(args: Any) -> common.Section:
    from cnnlib.data import DataConfig, load_dataset

    section = common.Section(
        "loading", "Data loading (scan + decode the CIFAR-10 folder via load_dataset)", goal=f"<= {GOAL_SECONDS} s"
    )
    section.note("the first repeat may read files from disk; later ones from the page cache")
    seconds = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        dataset = load_dataset(DataConfig(source=str(common.CIFAR10_DIR)))
        seconds.append(time.perf_counter() - start)
        images = len(dataset.train) + len(dataset.val) + len(dataset.test)
        section.add(
            {"repeat": repeat, "seconds": round(seconds[-1], 3), "images": images, "load": common.load_average()}
        )
    summary = common.summarize(seconds, 3)
    record = section.add({"summary": summary, "goal_met": summary["median"] <= GOAL_SECONDS})
    section.write(
        common.markdown_table(
            ["images", "seconds median", "min..max", "repeats", "<= 6 s"],
            [
                [
                    images,
                    summary["median"],
                    f"{summary['min']}..{summary['max']}",
                    summary["n"],
                    "yes" if record["goal_met"] else "NO",
                ]
            ],
        )
    )
    return section
