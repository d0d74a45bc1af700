"""FEniCSx (DOLFINx/UFL/PETSc/MPI) code lives here and only here.

Everything outside :mod:`planner.fem` hands in NumPy arrays (a :class:`planner.artefacts.TissueMesh`,
per-cell or per-vertex values in TissueMesh order) and gets NumPy arrays back in the same order.
Version-specific DOLFINx calls are in :mod:`planner.fem._compat`.
"""
