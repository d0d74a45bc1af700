# Environment the FEniCSx stack needs, set BEFORE Python starts (Debian's petsc4py.pth reads
# PETSC_DIR at interpreter start to choose the real build). Source it: `. scripts/env.sh`.
export PETSC_DIR=/usr/lib/petscdir/petsc-real
# Without PETSc's signal handler a crash in compiled code shows Python's faulthandler traceback
# (which Python line) instead of PETSc's bare "Caught signal 11" + MPI_Abort.
export PETSC_OPTIONS="-no_signal_handler${PETSC_OPTIONS:+ $PETSC_OPTIONS}"
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
export OMP_NUM_THREADS=1
export VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
export MPLBACKEND=Agg
export PYVISTA_OFF_SCREEN=true
