"""Tissue library: cited material properties (``data/tissues.csv``) and plan overrides."""
from planner.tissues.library import Tissue, TissueLibrary, load_library

__all__ = ["Tissue", "TissueLibrary", "load_library"]
