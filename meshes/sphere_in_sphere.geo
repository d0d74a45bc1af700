// Sphere of radius a (physical volume "core", tag 1) inside a concentric sphere of radius R ("shell", tag 2).
// Element size h inside the core, graded linearly in r from h at r = a to h_outer at r = R.
// Used by: benchmarks/thermal_verification.py (heated sphere, steady and transient).
// Run: gmsh -3 meshes/sphere_in_sphere.geo -setnumber a_mm 10 -setnumber R_mm 25 -setnumber h_mm 2 -setnumber h_outer_mm 3
SetFactory("OpenCASCADE");
DefineConstant[
  a_mm = {10, Name "Parameters/a_mm"},              // core radius (mm)
  R_mm = {25, Name "Parameters/R_mm"},              // outer radius (mm)
  h_mm = {2, Name "Parameters/h_mm"},               // element size in the core (mm)
  h_outer_mm = {h_mm, Name "Parameters/h_outer_mm"},  // element size at r = R (mm)
  seed = {0, Name "Parameters/seed"}                // gmsh random seed
];
Sphere(1) = {0, 0, 0, a_mm};
Sphere(2) = {0, 0, 0, R_mm};
BooleanFragments{ Volume{2}; Delete; }{ Volume{1}; Delete; }
e = 1e-6 * R_mm;
core() = Volume In BoundingBox{-a_mm - e, -a_mm - e, -a_mm - e, a_mm + e, a_mm + e, a_mm + e};
shell() = Volume{:};
shell() -= core();
Physical Volume("core", 1) = core();
Physical Volume("shell", 2) = shell();

Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Field[1] = MathEval;
If (h_outer_mm == h_mm)
  Field[1].F = Sprintf("%.17g", h_mm);
Else
  Field[1].F = Sprintf("%.17g + (%.17g - %.17g) * Max(0, Min(1, (Sqrt(x*x+y*y+z*z) - %.17g) / (%.17g - %.17g)))",
                       h_mm, h_outer_mm, h_mm, a_mm, R_mm, a_mm);
EndIf
Background Field = 1;
Mesh.RandomSeed = seed;
Mesh.Algorithm3D = 1;
