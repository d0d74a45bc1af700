"""Geometry stage: plan primitives (box, sphere, cylinder, ellipsoid, hip stem) → TissueMesh with gmsh."""
