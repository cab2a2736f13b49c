"""`primer`: the course's command line (the Makefile's verbs call these).

    primer hub       set up accounts and the course, then run JupyterHub
    primer release   regenerate release/ from source/ with nbgrader
    primer strip     clear the outputs of the notebooks in source/
    primer check     source/ stored without outputs and release/ up to date
    primer autograde grade an assignment for the class, in parallel and sandboxed
                     (--backend local, slurm or kubernetes: docs/cluster.md)
    primer grade-one grade one submission into a self-contained result (what each backend runs)
    primer merge     record a finished cluster run (Kubernetes --dry-run) in the gradebook
    primer export    grades as an LMS-ready CSV and a per-question breakdown
    primer survey    the feedback survey's answers as one table
    primer report    the class report of an assignment: one HTML page with figures
    primer extend    give one student more time for an assignment (primer/grading/deadlines.py)
    primer data fetch  download a real dataset once into the shared data folder (online hubs)
    primer queue     grading on submit: enable/disable an assignment, status (docs/workshop.md)
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from primer.course import (cells_with_outputs, find_repo, generate_release,
                           release_differences, source_notebooks, strip_outputs, venv_path)

# Options that only mean something for one backend: refused with the others
# (a --dry-run the local backend ignored would grade the class for real).
BACKEND_ONLY_OPTIONS = {"dry_run": ("--dry-run", "kubernetes"),
                        "sbatch_option": ("--sbatch-option", "slurm"),
                        "jobs": ("-j/--jobs", "local")}


def check_backend_options(args) -> None:
    for name, (option, backend) in BACKEND_ONLY_OPTIONS.items():
        value = getattr(args, name)
        if value not in (None, []) and value is not False and args.backend != backend:
            raise ValueError(f"{option} applies to --backend {backend} only, not to --backend "
                             f"{args.backend}: drop it, or add --backend {backend}")


def _tools_on_path() -> None:
    """This environment's tools first on PATH, for every process primer starts: nbgrader runs
    `alembic` by name, so `.venv/bin/primer` must work without the venv on PATH."""
    if os.environ.get("PATH", "").split(os.pathsep)[0] != os.path.dirname(sys.executable):
        os.environ["PATH"] = venv_path()


def cmd_hub(args) -> int:
    from primer.hub.course_setup import course_directory, install_course
    from primer.hub.runtime import HubRuntime
    from primer.accounts import require_root

    require_root("`primer hub`")
    repo = find_repo()
    runtime = HubRuntime.from_environment()
    runtime.make_folders()
    passwords = runtime.passwords(repo)  # refused ones stop the hub before any account is made
    install_course(repo, runtime)
    print(f"""
  The course hub is starting on {runtime.url}

  students:    {', '.join(runtime.students)}
               password: {passwords['student']}
  instructor:  {', '.join(runtime.instructors)}
               password: {passwords['instructor']}
               course directory: {course_directory(runtime.instructors[0])}
  graders:     {', '.join(runtime.graders) or '(none)'} (the instructors' password)
  formgrader:  {runtime.url}/services/primer/formgrader

  (passwords are kept in {runtime.state / 'passwords.json'}; Ctrl-C stops the hub)
""", flush=True)
    os.chdir(runtime.state)
    # A parent that ignores Ctrl-C (a background job, some CI runners) would pass
    # that on to every user's server, which could then only be stopped the slow way.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_DFL)
    jupyterhub = os.path.join(sys.prefix, "bin", "jupyterhub")
    # exec: Ctrl-C reaches JupyterHub itself, which stops the servers and the proxy.
    os.execv(jupyterhub, [jupyterhub, "-f", str(repo / "jupyterhub_config.py"), *args.extra])
    return 0  # not reached


def cmd_release(args) -> int:
    repo = find_repo()
    generate_release(repo, repo / "release")
    print(f"release/ regenerated from source/ in {repo}")
    return 0


def cmd_strip(args) -> int:
    for path in source_notebooks(find_repo()):
        if strip_outputs(path):
            print(f"cleared outputs: {path}")
    return 0


def cmd_check(args) -> int:
    repo = find_repo()
    problems = [f"{path.relative_to(repo)} has outputs in cells {cells} (run `make strip`)"
                for path in source_notebooks(repo) if (cells := cells_with_outputs(path))]
    problems += [f"{p} (run `make release`)" for p in release_differences(repo)]
    print("\n".join(problems) or "source/ is clean and release/ is up to date")
    return 1 if problems else 0


def cmd_autograde(args) -> int:
    from primer.grading.parallel import autograde_class, format_summary

    check_backend_options(args)
    course = find_repo(args.course)
    students = args.student or None
    if args.backend == "slurm":
        from primer.grading.backends.slurm import autograde_on_slurm
        results = autograde_on_slurm(course, args.assignment, students=students,
                                     sbatch_options=args.sbatch_option)
    elif args.backend == "kubernetes":
        from primer.grading.backends.kubernetes import autograde_on_kubernetes
        results = autograde_on_kubernetes(course, args.assignment, students=students,
                                          dry_run=args.dry_run)
        if results is None:  # --dry-run: the manifests were printed
            return 0
    else:
        results = autograde_class(course, args.assignment, students=students,
                                  workers=os.cpu_count() or 2 if args.jobs is None else args.jobs)
    print(format_summary(args.assignment, results))
    return 0 if all(r.status != "failed" for r in results) else 3


def cmd_merge(args) -> int:
    from primer.grading.backends.kubernetes import merge_run
    from primer.grading.parallel import format_summary

    results = merge_run(find_repo(args.course), args.assignment, args.run_folder, partial=args.partial)
    print(format_summary(args.assignment, results))
    return 0 if all(r.status != "failed" for r in results) else 3


def cmd_data_fetch(args) -> int:
    from primer.data.fetch import fetch_dataset

    print(f"fetching {args.dataset}; this can take minutes the first time", flush=True)
    written = fetch_dataset(args.dataset, args.data_dir)
    print(f"{args.dataset} is ready in {written}")
    return 0

def cmd_grade_one(args) -> int:
    from primer.grading.unit import main as grade_one_main

    return grade_one_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="primer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    hub = verbs.add_parser("hub", help="set up the course and run JupyterHub (as root)")
    hub.add_argument("extra", nargs=argparse.REMAINDER, help="more jupyterhub arguments")
    hub.set_defaults(run=cmd_hub)
    verbs.add_parser("release", help="regenerate release/ from source/").set_defaults(run=cmd_release)
    verbs.add_parser("strip", help="clear outputs in source/").set_defaults(run=cmd_strip)
    verbs.add_parser("check", help="check source/ and release/").set_defaults(run=cmd_check)
    grade = verbs.add_parser("autograde", help="grade an assignment for the class, in parallel, sandboxed")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("-j", "--jobs", type=int, default=None,
                       help="local: parallel workers (default: one per core)")
    grade.add_argument("--course", default=None, help="course directory (default: the current one)")
    grade.add_argument("--backend", choices=("local", "slurm", "kubernetes"), default="local",
                       help="where the submissions are graded (default: this machine)")
    grade.add_argument("--sbatch-option", action="append", default=[],
                       help="slurm: passed on to sbatch, e.g. --sbatch-option=--qos=short (repeatable)")
    grade.add_argument("--dry-run", action="store_true",
                       help="kubernetes: print the Job and NetworkPolicy for `kubectl apply -f -`")
    grade.set_defaults(run=cmd_autograde)
    merge = verbs.add_parser("merge", help="record a finished cluster run in the gradebook (after "
                             "`--backend kubernetes --dry-run | kubectl apply -f -`)")
    merge.add_argument("assignment")
    merge.add_argument("run_folder", help="the run folder --dry-run named (on the volume claim)")
    merge.add_argument("--course", default=None, help="course directory (default: the current one)")
    merge.add_argument("--partial", action="store_true",
                       help="record the submissions that have a result, report the others as failed")
    merge.set_defaults(run=cmd_merge)
    data = verbs.add_parser("data", help="real datasets for hubs that are online")
    data_verbs = data.add_subparsers(dest="data_verb", required=True)
    fetch = data_verbs.add_parser(
        "fetch", help="download a dataset once into the shared data folder (needs internet)")
    fetch.add_argument("--dataset", choices=("development_fmri", "haxby"), default="development_fmri",
                       help="development_fmri (default): the connectomes of ML 1, real; "
                            "haxby: Haxby 2001, subject 2")
    fetch.add_argument("--data-dir", default=None,
                       help="where to put it (default: NILEARN_SHARED_DATA, PRIMER_SHARED_DATA "
                            "or $PRIMER_RUNTIME/shared-data)")
    fetch.set_defaults(run=cmd_data_fetch)

    one = verbs.add_parser("grade-one", help="grade one submission into a result folder (the unit "
                           "every backend runs; paths may contain {index})")
    one.add_argument("--release", required=True, help="grading release (primer.grading.unit.prepare_release)")
    one.add_argument("--submission", required=True, help="the submission folder (read only)")
    one.add_argument("--scratch", required=True, help="a folder to grade in (emptied after)")
    one.add_argument("--result", required=True, help="where result.json and autograded/ go")
    one.add_argument("--student", help="default: student.txt beside the submission, else its parent folder")
    one.add_argument("--index", help="replaces {index} in the paths (default: JOB_COMPLETION_INDEX "
                     "or SLURM_ARRAY_TASK_ID)")
    one.add_argument("--slot", type=int, help="sandbox account number (primer-sandboxN, as root)")
    one.add_argument("--pod", action="store_true",
                     help="the container is the sandbox (Kubernetes): no bubblewrap, same checks")
    one.set_defaults(run=cmd_grade_one)
    from primer.queue.cli import add_parser as add_queue_parser

    add_queue_parser(verbs)
    # These hand their arguments on to the module that does the work.
    verbs.add_parser("export", help="grades as CSV for an LMS, and per question", add_help=False)
    verbs.add_parser("survey", help="the feedback survey's answers as a table", add_help=False)
    verbs.add_parser("report", help="the class report of an assignment (HTML, figures)", add_help=False)
    verbs.add_parser("extend", help="give one student more time for an assignment", add_help=False)
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] != ["hub"]:  # the hub keeps the environment it was started with, for every server
        _tools_on_path()
    # nbgrader's gradebook warns about its own session handling on every merge: noise to an instructor.
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted", module=r"nbgrader\.api")
    if argv and argv[0] == "export":
        from primer.grading.export import main as export_main
        return export_main(argv[1:])
    if argv and argv[0] == "survey":
        from primer.feedback_survey import main as survey_main
        return survey_main(argv[1:])
    if argv and argv[0] == "report":
        from primer.report.page import main as report_main
        return report_main(argv[1:])
    if argv and argv[0] == "extend":
        from primer.grading.deadlines import main as extend_main
        return extend_main(argv[1:])
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (RuntimeError, ValueError) as error:  # our errors say what to do
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
