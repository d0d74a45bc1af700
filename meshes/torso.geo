// Torso phantom of phantoms/torso/plan.toml: elliptical torso (fat shell around muscle), a liver-like
// ellipsoid and a spherical tumour. Physical volumes, in plan order (later bodies override earlier ones
// where they overlap, as in planner.geometry.mesher.mesh_shapes):
//   "fat" (tag 1, role body), "muscle" (2, body), "liver" (3, organ), "tumour" (4, target).
// Sizes as the plan's [mesh] section: max_size everywhere, organ_size in the liver and target_size in
// the tumour, each grading linearly to max_size over growth_distance outside the region. Same OCC
// construction, size fields and options as mesh_shapes: the mesh is identical to the planner's mesh of
// the plan (tests/verification/test_meshes.py checks it at coarse sizes).
// Used by: tests/verification/test_meshes.py; open it in gmsh to look at the phantom.
// Run: gmsh -3 meshes/torso.geo (the plan's sizes; about 2e5 cells) or e.g. -setnumber max_size_mm 40
SetFactory("OpenCASCADE");
DefineConstant[
  max_size_mm = {25, Name "Parameters/max_size_mm"},            // largest element size (mm)
  organ_size_mm = {15, Name "Parameters/organ_size_mm"},        // element size in the liver (mm)
  target_size_mm = {4, Name "Parameters/target_size_mm"},       // element size in the tumour (mm)
  growth_distance_mm = {60, Name "Parameters/growth_distance_mm"},  // grading distance (mm)
  seed = {0, Name "Parameters/seed"}                            // gmsh random seed
];
// bodies (mm), as in phantoms/torso/plan.toml
Sphere(1) = {0, 0, 0, 1};        Dilate {{0, 0, 0}, {170, 120, 260}} { Volume{1}; }   // fat
Sphere(2) = {0, 0, 0, 1};        Dilate {{0, 0, 0}, {155, 105, 245}} { Volume{2}; }   // muscle
Sphere(3) = {-60, 10, 60, 1};    Dilate {{-60, 10, 60}, {70, 50, 45}} { Volume{3}; }  // liver
Sphere(4) = {40, 20, 0, 15};                                                         // tumour
// bounding boxes of the bodies before the fragments: each piece lies in the box of its body (OCC boxes of
// dilated spheres are loose but the same for a body and its piece; a body's box excludes the bodies around it)
bt() = BoundingBox Volume{4};
bl() = BoundingBox Volume{3};
bm() = BoundingBox Volume{2};
BooleanFragments{ Volume{1, 2, 3, 4}; Delete; }{}
e = 1e-3;
tumour() = Volume In BoundingBox{bt(0) - e, bt(1) - e, bt(2) - e, bt(3) + e, bt(4) + e, bt(5) + e};
liver() = Volume In BoundingBox{bl(0) - e, bl(1) - e, bl(2) - e, bl(3) + e, bl(4) + e, bl(5) + e};
liver() -= tumour();
muscle() = Volume In BoundingBox{bm(0) - e, bm(1) - e, bm(2) - e, bm(3) + e, bm(4) + e, bm(5) + e};
muscle() -= liver();
muscle() -= tumour();
fat() = Volume{:};
fat() -= muscle();
fat() -= liver();
fat() -= tumour();
Physical Volume("fat", 1) = fat();
Physical Volume("muscle", 2) = muscle();
Physical Volume("liver", 3) = liver();
Physical Volume("tumour", 4) = tumour();

Mesh.MeshSizeMax = max_size_mm;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromCurvature = 0;
// per region: Threshold on the distance to its surface (outside) and the fine size restricted to it (inside)
nf = 0;
mins() = {};
For k In {0 : 1}
  If (k == 0)
    h = organ_size_mm; vols() = liver();
  Else
    h = target_size_mm; vols() = tumour();
  EndIf
  If (h < max_size_mm)
    surfs() = Abs(Boundary{ Volume{vols()}; });
    Field[nf + 1] = Distance;
    Field[nf + 1].FacesList = {surfs()};
    Field[nf + 1].NumPointsPerCurve = 20;
    Field[nf + 2] = Threshold;
    Field[nf + 2].InField = nf + 1;
    Field[nf + 2].SizeMin = h;
    Field[nf + 2].SizeMax = max_size_mm;
    Field[nf + 2].DistMin = 0;
    Field[nf + 2].DistMax = growth_distance_mm;
    Field[nf + 3] = MathEval;
    Field[nf + 3].F = Sprintf("%.17g", h);
    Field[nf + 4] = Restrict;
    Field[nf + 4].InField = nf + 3;
    Field[nf + 4].RegionsList = {vols()};
    Field[nf + 4].FacesList = {surfs()};
    mins() += {nf + 2, nf + 4};
    nf += 4;
  EndIf
EndFor
If (nf > 0)
  Field[nf + 1] = Min;
  Field[nf + 1].FieldsList = {mins()};
  Background Field = nf + 1;
EndIf
Mesh.RandomSeed = seed;
General.NumThreads = 1;
