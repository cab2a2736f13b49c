"""Helpers that the tests and the benchmarks share (not used by the course itself).

* ``primer.testing.hub``: the course hub started as `make hub` does, with
  throw-away Unix accounts, and people using it over HTTP;
* ``primer.testing.scratch_course``: a scratch nbgrader course directory,
  solved notebooks and the plausible wrong answers of tests/wrong_answers/.

They need the ``test`` extra (requests, websocket-client).
"""
