"""planner command line (filled in below)."""
def main(argv=None):
    raise SystemExit("not yet")
