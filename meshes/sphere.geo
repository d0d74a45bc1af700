// Sphere of radius r centred at (cx, cy, cz): one physical volume "sphere" (tag 1), element size <= h.
// Same OCC construction and size options as planner.geometry.mesher.mesh_shapes for one sphere body
// (the mesh is identical to that of a plan with this body and mesh.max_size_mm = h).
// Used by: benchmarks/em_sphere.py (conducting sphere in a uniform field, a = 50 mm).
// Run: gmsh -3 meshes/sphere.geo -setnumber r_mm 50 -setnumber h_mm 7
SetFactory("OpenCASCADE");
DefineConstant[
  r_mm = {50, Name "Parameters/r_mm"},   // radius (mm)
  cx_mm = {0, Name "Parameters/cx_mm"},  // centre (mm)
  cy_mm = {0, Name "Parameters/cy_mm"},
  cz_mm = {0, Name "Parameters/cz_mm"},
  h_mm = {10, Name "Parameters/h_mm"},   // largest element size (mm)
  seed = {0, Name "Parameters/seed"}     // gmsh random seed
];
Sphere(1) = {cx_mm, cy_mm, cz_mm, r_mm};
Physical Volume("sphere", 1) = {1};
Mesh.MeshSizeMax = h_mm;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Mesh.RandomSeed = seed;
General.NumThreads = 1;
