"""Grading around nbgrader: sandboxed student kernels, a judge outside them, nbgrader's glue.

The package reads as layers, by side of the trust boundary (docs/security.md,
"The judge: where trust ends"):

* the student's side (UNTRUSTED: runs inside the sandboxed kernel, where the
  student's code can change anything): ``sandbox_start`` (first step inside
  the sandbox), ``bridge_student`` (answers the judge's requests with data),
  ``kernel_guard`` (an in-kernel check that only ever flags);
* the wire between them: ``bridge_codec`` (plain data only, strict types, caps);
* the judge (TRUSTED: never runs student code): ``judge`` (runs every test
  cell and decides pass or fail);
* the grader (TRUSTED: nbgrader's glue): ``judge_client`` (starts the judge,
  turns verdicts into outputs), ``sandbox`` (the kernel's sandbox and the
  Execute step), ``cgroups``, ``integrity`` / ``repair`` / ``provided_check``
  / ``staging`` (what a submission may bring), ``unit`` (grade one
  submission), ``merge`` (the trusted record of a result), ``parallel`` and
  ``backends`` (local, Slurm, Kubernetes), ``course_settings``, ``feedback``,
  ``export``, ``problems``.
"""
