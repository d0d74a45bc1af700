// Prolate spheroid (semi-axes a, a, c along z; physical volume "implant", tag 2) at the centre of a cube of
// side L ("tissue", tag 1), the mesh graded toward the spheroid's TIPS (0, 0, ±c): element size h_tip at the
// tips, growing by g per mm of distance from the nearest tip; h on the spheroid's surface, growing by g per
// mm of distance from it; at most h_far. The tip field of a conductor varies on the scale of the tip radius
// a²/c (0.06 mm at a = 0.6, c = 6), far below a useful uniform surface size: the grading puts the small
// elements only there. Used by: benchmarks/em_implant_conductor.py (tip-graded spheroid cases).
// Run: gmsh -3 meshes/spheroid_in_cube.geo -setnumber a_mm 0.6 -setnumber c_mm 6 -setnumber h_tip_mm 0.02
SetFactory("OpenCASCADE");
DefineConstant[
  a_mm = {1.5, Name "Parameters/a_mm"},            // equatorial semi-axis (mm)
  c_mm = {4.5, Name "Parameters/c_mm"},            // polar semi-axis along z (mm), c > a
  L_mm = {16, Name "Parameters/L_mm"},             // cube side (mm)
  h_mm = {0.3, Name "Parameters/h_mm"},            // element size on the spheroid surface (mm)
  h_tip_mm = {0.1, Name "Parameters/h_tip_mm"},    // element size at the tips (mm)
  h_far_mm = {2, Name "Parameters/h_far_mm"},      // largest element size (mm)
  g = {0.35, Name "Parameters/g"},                 // size growth per mm of distance
  seed = {0, Name "Parameters/seed"}               // gmsh random seed
];
Sphere(1) = {0, 0, 0, a_mm};
Dilate {{0, 0, 0}, {1, 1, c_mm / a_mm}} { Volume{1}; }
Box(2) = {-L_mm / 2, -L_mm / 2, -L_mm / 2, L_mm, L_mm, L_mm};
BooleanFragments{ Volume{2}; Delete; }{ Volume{1}; Delete; }
e = 0.45 * L_mm;  // the dilated sphere's OCC bounding box is loose (up to 2a): select "strictly inside the cube"
imp() = Volume In BoundingBox{-e, -e, -e, e, e, e};
tis() = Volume{:};
tis() -= imp();
Physical Volume("tissue", 1) = tis();
Physical Volume("implant", 2) = imp();
surf() = Boundary{ Volume{imp()}; };

Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
Field[1] = Distance;
Field[1].FacesList = {surf()};
Field[1].NumPointsPerCurve = 100;
Field[2] = MathEval;   // size graded from the surface
Field[2].F = Sprintf("Min(%.17g, %.17g + %.17g * F1)", h_far_mm, h_mm, g);
Field[3] = MathEval;   // size graded from the nearer tip
Field[3].F = Sprintf("Min(%.17g, %.17g + %.17g * Sqrt(x*x + y*y + (Fabs(z) - %.17g)^2))", h_far_mm, h_tip_mm, g, c_mm);
Field[4] = Min;
Field[4].FieldsList = {2, 3};
Background Field = 4;
Mesh.RandomSeed = seed;
Mesh.Algorithm3D = 1;
