// Ellipsoid with semi-axes a (x), b (y), c (z) centred at (cx, cy, cz): one physical volume "ellipsoid"
// (tag 1), element size <= h. Built as in planner.geometry.mesher.mesh_shapes (unit sphere dilated by
// (a, b, c)), same size options: the mesh is identical to that of a plan with this ellipsoid body.
// Used by: benchmarks/em_ellipsoid.py (cases triaxial 60x40x30, thin-disc 60x30x6, rod 20x80x20 mm).
// Run: gmsh -3 meshes/ellipsoid.geo -setnumber a_mm 60 -setnumber b_mm 40 -setnumber c_mm 30 -setnumber h_mm 5
SetFactory("OpenCASCADE");
DefineConstant[
  a_mm = {60, Name "Parameters/a_mm"},   // semi-axis along x (mm)
  b_mm = {40, Name "Parameters/b_mm"},   // semi-axis along y (mm)
  c_mm = {30, Name "Parameters/c_mm"},   // semi-axis along z (mm)
  cx_mm = {0, Name "Parameters/cx_mm"},  // centre (mm)
  cy_mm = {0, Name "Parameters/cy_mm"},
  cz_mm = {0, Name "Parameters/cz_mm"},
  h_mm = {10, Name "Parameters/h_mm"},   // largest element size (mm)
  seed = {0, Name "Parameters/seed"}     // gmsh random seed
];
Sphere(1) = {cx_mm, cy_mm, cz_mm, 1};
Dilate {{cx_mm, cy_mm, cz_mm}, {a_mm, b_mm, c_mm}} { Volume{1}; }
Physical Volume("ellipsoid", 1) = {1};
Mesh.MeshSizeMax = h_mm;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Mesh.RandomSeed = seed;
General.NumThreads = 1;
