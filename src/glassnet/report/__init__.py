"""The HTML report of a trained model (matplotlib figures embedded as PNG)."""

from glassnet.report.html import build_report, render_html  # noqa: F401
