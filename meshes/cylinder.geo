// Finite circular cylinder of radius r and length L, axis along z, centred at the origin: one physical
// volume "cylinder" (tag 1), element size <= h; same construction and size options as
// planner.geometry.mesher.mesh_shapes for a cylinder body with axis (0, 0, 1).
// Used by: benchmarks/em_ellipsoid.py (case cylinder, R = 30 mm, L = 80 mm, axis parallel to H0).
// Run: gmsh -3 meshes/cylinder.geo -setnumber r_mm 30 -setnumber length_mm 80 -setnumber h_mm 5
SetFactory("OpenCASCADE");
DefineConstant[
  r_mm = {30, Name "Parameters/r_mm"},             // radius (mm)
  length_mm = {80, Name "Parameters/length_mm"},   // length along z (mm)
  h_mm = {10, Name "Parameters/h_mm"},             // largest element size (mm)
  seed = {0, Name "Parameters/seed"}               // gmsh random seed
];
Cylinder(1) = {0, 0, -length_mm / 2, 0, 0, length_mm, r_mm};
Physical Volume("cylinder", 1) = {1};
Mesh.MeshSizeMax = h_mm;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Mesh.RandomSeed = seed;
General.NumThreads = 1;
