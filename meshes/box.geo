// Box [0, lx] x [0, ly] x [0, lz] (mm), one physical volume "slab" (tag 1), uniform element size h.
// Used by: benchmarks/thermal_verification.py (lumped 0-D Pennes on 10 mm cubes, 1-D perfused slab 40 x 4 x 4 mm).
// Run: gmsh -3 meshes/box.geo -setnumber lx_mm 40 -setnumber ly_mm 4 -setnumber lz_mm 4 -setnumber h_mm 1
SetFactory("OpenCASCADE");
DefineConstant[
  lx_mm = {10, Name "Parameters/lx_mm"},  // side along x (mm)
  ly_mm = {10, Name "Parameters/ly_mm"},  // side along y (mm)
  lz_mm = {10, Name "Parameters/lz_mm"},  // side along z (mm)
  h_mm = {5, Name "Parameters/h_mm"}      // element size (mm)
];
Box(1) = {0, 0, 0, lx_mm, ly_mm, lz_mm};
Physical Volume("slab", 1) = {1};
Mesh.MeshSizeMin = h_mm;
Mesh.MeshSizeMax = h_mm;
