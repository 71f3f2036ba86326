"""How the assets describe their data in the Dagster UI."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.publish import markdown
from pipeline.store.schema import Column


def column_schema(columns: tuple[Column, ...]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                str(c.arrow),
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in columns
        ]
    )


def markdown_table(frame: pd.DataFrame | None, max_rows: int = 10) -> str:
    """A preview of rows in the UI; their text (VOD's data) is shown as written, never read as markup."""
    if frame is None or frame.empty:
        return "_no rows_"
    rows = ([markdown.literal(v) if isinstance(v, str) else v for v in row] for row in frame.head(max_rows).itertuples(index=False))
    return markdown.table(list(frame.columns), rows)
