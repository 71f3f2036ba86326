"""Everything Dagster loads: the definitions in pipeline/defs and the resources from the environment."""

from pathlib import Path

import dagster as dg

from pipeline.defs.resources import resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=resources()),
    )
