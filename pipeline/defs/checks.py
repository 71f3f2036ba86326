"""The blocking checks of each day's stickers, as the UI shows them. The day's normalization runs them on its
new files before anything reaches the lake (write, audit, publish: ``snapshot.normalize_day``); these report
that audit, and a failed one keeps the warehouse and the report of the run from being made."""

import dagster as dg

from pipeline import snapshot
from pipeline.defs.ingest import stickers
from pipeline.defs.partitions import account_of, day_of, partitions
from pipeline.defs.resources import LakeResource
from pipeline.normalize import quality

BLOCKS = (
    " Blocking: the day's new files are audited before they are committed; when this fails they are held in "
    "staging (vod-stickers staged), the lake keeps the day's previous audited version, and the warehouse and "
    "report are not made. Fix the data, re-run stickers."
)


def _blocking_check(check: quality.Check) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=stickers, name=check.name, blocking=True, partitions_def=partitions, description=check.description + BLOCKS)
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        audit = snapshot.day_audit(lake.layout(account_of(context)), day_of(context))
        outcome = audit.checks[check.name]
        metadata = dict(outcome.metadata)
        if audit.held:
            metadata["held_in_staging"] = dg.MetadataValue.path(audit.held["stickers"])
        return dg.AssetCheckResult(passed=outcome.passed, description=outcome.summary, metadata=metadata)

    return _check


blocking_checks = [_blocking_check(check) for check in quality.BLOCKING]
