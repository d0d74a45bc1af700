"""What the benchmarks and tests check the solvers against, one copy each: closed forms (em, implants,
nanoparticles, thermal), reference meshes (``meshes``: the ``meshes/*.geo`` scripts, structured cube)
and convergence helpers (``convergence``: observed orders, tables, pass/fail checks)."""
