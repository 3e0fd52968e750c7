"""Problem families, one package each.

A family package holds its scenario (parameters, presets, dynamics, exact
model), its heuristics, its data with provenance and any method that only
makes sense for it. It registers its scenario and policy ids from a
``register()`` function, which the core finds through the entry-point group
``optalloc.families`` (:func:`optalloc.registry.discover_families`); a
third-party package adds a family the same way, with one line in its own
``pyproject.toml``::

    [project.entry-points."optalloc.families"]
    clinics = "my_package.clinics:register"
"""
