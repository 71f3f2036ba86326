"""Everything Dagster loads: the definitions in pipeline/defs and the resources from the environment."""

import dagster as dg

from pipeline import defs as defs_package
from pipeline.defs.resources import resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(dg.load_defs(defs_root=defs_package), dg.Definitions(resources=resources()))
