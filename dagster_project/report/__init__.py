"""The weekly report: one self-contained HTML page of the week's KPIs and lifecycle, for the
people who read rather than query. Charts are Vega-Altair specs rendered to inline SVG by
vl-convert (no script, no server, no network), the page is a Jinja template."""
