"""The node side of the probe: one module per family of facts, stdlib only, Python 3.8+.

These modules never run from this directory on a node: ``validators/probe/assemble.py`` bundles
them into one payload streamed as ``python3 - '<options json>'`` (see there). So, here:

* stdlib only at module level, relative imports between these modules (an optional binding such as
  ``pynvml`` is imported inside the function that uses it);
* Python 3.8 syntax and library (pyright checks this folder against 3.8);
* every external command through ``_util.run_cmd`` (timeout, own process group, found on PATH);
* parsers are pure functions, so the controller's tests run them on real recorded output.
"""
