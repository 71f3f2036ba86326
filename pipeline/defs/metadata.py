"""How the assets describe their data in the Dagster UI."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.schema import Column


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
    if frame is None or frame.empty:
        return "_no rows_"
    frame = frame.head(max_rows)
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
