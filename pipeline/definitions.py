"""Everything Dagster loads: the definitions in pipeline/defs."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        # One process per run: the steps are short next to the fetch, and a process per step would
        # spend more time importing than working.
        dg.Definitions(executor=dg.in_process_executor),
    )
