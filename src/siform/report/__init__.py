"""The review report: one self-contained HTML page (inline SVG charts, data-URI thumbnails)."""

from siform.report.html import render_report, report_charts

__all__ = ["render_report", "report_charts"]
