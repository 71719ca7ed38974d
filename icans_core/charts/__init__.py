"""Altair chart builders: a tidy frame in, a chart out. They draw; they never compute statistics."""

from icans_core.charts import compose

compose.install()  # compound charts without Altair's copies when there is nothing to merge (compose.py)
