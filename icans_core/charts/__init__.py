"""Altair chart builders: a tidy frame in, a chart out. They draw; they never compute statistics."""

import altair as alt

from icans_core.charts import compose

compose.install()  # compound charts without Altair's copies when there is nothing to merge (compose.py)

# Altair's "debug mode" validates every chart object against the Vega-Lite schema as it is built: a tenth to
# a fifth of a chart page's build at 10,000 patients (the Cytokines page: 66 validations, 0.05 s), on every
# rerun. The whole spec is validated where it counts: tests/test_figures.py checks every figure of every view
# against the schema, and the PNG / SVG / report specs (charts/serialise.py) are validated as they are made.
alt.utils.schemapi.disable_debug_mode()
