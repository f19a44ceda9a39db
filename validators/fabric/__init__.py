"""Active fabric tests: the tools operators trust to prove GPUs can train together.

Tool-facing modules (pure: command lines, parsers of the tools' output, judges):

* ``nccl`` — nccl-tests (``all_reduce_perf`` and the other ``*_perf``): ``local_argv`` (one node,
  NVLink/NVSwitch), ``mpirun_argv`` (across nodes over the fabric), ``fabric_env`` (the environment
  NCCL needs for EFA, InfiniBand, RoCE or TCP), ``parse_all_reduce``, ``evaluate``.
  ``nccl_output`` holds the parser.
* ``dcgm`` — DCGM diagnostics (``dcgmi diag -r N``): ``diag_argv``, ``parse_diag_json`` /
  ``parse_diag_text`` (DCGM 3.x and 4.x), ``evaluate``. ``dcgm_output`` holds the parsers.
* ``rdma`` — point-to-point RDMA: perftest ``ib_write_bw`` (InfiniBand/RoCE) and libfabric's
  ``fi_pingpong`` (EFA, or the ``tcp`` provider on the same code path): argv builders, parsers and
  ``evaluate_bandwidth``.
* ``mpi`` — Open MPI over SSH: the ``mpirun`` prefix (host keys verified, never prompting) and what
  its failures mean; what plinth requires of the nodes for cross-node runs is in its docstring.
* ``toolout`` — what the tools' outputs share: bounded decoding, launcher prefixes, numbers, the
  ``timeout`` wrapper that bounds every run.

Expectations (what healthy hardware measures) are data: policies/data/fabric.yaml, read through
``policies.catalogue`` (``intranode_busbw``, ``internode_busbw``, ``rdma_link_gbps``).
"""
