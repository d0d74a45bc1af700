"""Reporting: the results folder, summary.json, figures and the HTML report (the only file IO of results)."""
