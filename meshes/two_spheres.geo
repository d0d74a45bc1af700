// Sphere of radius R centred at 0 (physical volume "fat", tag 1) with a sphere of radius r centred at
// (cx, cy, cz) inside it ("core", tag 2; overrides the outer sphere where they overlap), element size
// <= h. Same OCC fragments and size options as planner.geometry.mesher.mesh_shapes for the bodies
// [outer sphere, core sphere] (identical mesh).
// Used by: benchmarks/em_two_layer.py (fat shell R = 60 mm around a muscle core r = 35 mm, concentric
// and eccentric at (12, 0, 9) mm).
// Run: gmsh -3 meshes/two_spheres.geo -setnumber cx_mm 12 -setnumber cz_mm 9 -setnumber h_mm 6
SetFactory("OpenCASCADE");
DefineConstant[
  R_mm = {60, Name "Parameters/R_mm"},   // outer radius (mm)
  r_mm = {35, Name "Parameters/r_mm"},   // core radius (mm)
  cx_mm = {0, Name "Parameters/cx_mm"},  // core centre (mm)
  cy_mm = {0, Name "Parameters/cy_mm"},
  cz_mm = {0, Name "Parameters/cz_mm"},
  h_mm = {10, Name "Parameters/h_mm"},   // largest element size (mm)
  seed = {0, Name "Parameters/seed"}     // gmsh random seed
];
Sphere(1) = {0, 0, 0, R_mm};
Sphere(2) = {cx_mm, cy_mm, cz_mm, r_mm};
BooleanFragments{ Volume{1, 2}; Delete; }{}
e = 1e-6 * R_mm;
core() = Volume In BoundingBox{cx_mm - r_mm - e, cy_mm - r_mm - e, cz_mm - r_mm - e, cx_mm + r_mm + e, cy_mm + r_mm + e, cz_mm + r_mm + e};
fat() = Volume{:};
fat() -= core();
Physical Volume("fat", 1) = fat();
Physical Volume("core", 2) = core();
Mesh.MeshSizeMax = h_mm;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Mesh.RandomSeed = seed;
General.NumThreads = 1;
