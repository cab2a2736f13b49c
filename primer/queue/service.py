"""The grading queue as a JupyterHub-managed service (started by the hub as root).

    python -m primer.queue.service        (the hub starts it: primer/hub/config.py)

One asyncio loop: every second it looks for new inbound entries of the enabled
assignments, notes them in the journal, and starts gradings in a fair order
(Journal.fair_order: a student's resubmissions never delay another's first
submission), up to PRIMER_QUEUE_WORKERS at once, one per student at a time,
within each student's hourly limit. Each grading (``grade``) is collect -> the
sandboxed unit in its own process group, niced, with a time limit (in a warm
sandbox started ahead, primer/queue/warm_pool.py, or a cold `primer grade-one`)
-> the trusted record step as the course owner. The status page at
/services/grading-queue/ (and its JSON at api/status) is for the staff only:
JupyterHub's OAuth, with access given to the staff group (primer/hub/config.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

from primer.accounts import kill_tree
from primer.queue.cluster_dispatch import grade_on_cluster, queue_backend
from primer.queue.collect import InboundReader
from primer.queue.feedback import write_notice
from primer.queue.journal import Journal, Submission
from primer.queue.recorder import Recorder
from primer.queue.settings import QueueSettings, queue_folder
from primer.queue.warm_pool import WarmPool

log = logging.getLogger("primer.queue")
SLOT_OFFSET = 50  # sandbox accounts primer-sandbox50.. : never those of a class autograde
RECORD_TIMEOUT = 300
# On a clean stop, how long the cluster dispatchers get to cancel their tasks (scancel, or the
# Job deleted) before they are killed: the hub sends SIGTERM to the service after 10 s.
STOP_CANCEL_SECONDS = 8
STOPPED_NOTE = ("the hub stopped while this was being graded; graded again from the start "
                "when it started again")
HARDENED = "primer.grading.sandbox.SandboxedExecute"


class GradingQueue:
    def __init__(self, *, runtime_root: Path, course: Path, owner: str, exchange_course: Path,
                 course_config_file: Path, staff_config_path: str, settings: QueueSettings):
        from primer.grading.course_settings import course_config

        self.settings, self.course, self.owner = settings, Path(course), owner
        self.exchange_course = Path(exchange_course)
        self.course_config_file = Path(course_config_file)
        self.staff_config_path = staff_config_path
        self.folder = queue_folder(runtime_root)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o711)  # items are reached by path, never listed
        self.work = self.folder / "work"
        self.work.mkdir(exist_ok=True)
        os.chmod(self.work, 0o711)
        for leftover in self.work.iterdir():  # of a service that stopped: nothing runs there now
            shutil.rmtree(leftover, ignore_errors=True)
        self.logs = self.folder / "logs"  # each grading's log, kept: root's only
        self.logs.mkdir(mode=0o700, exist_ok=True)
        self.journal = Journal(self.folder)
        self.journal.enable_configured(settings.assignments)
        for item in self.journal.recover():
            log.warning("graded again after a restart: %s", item.entry)
        self.reader = InboundReader(course_config(self.course), self.exchange_course)
        self.running: dict[int, asyncio.Task] = {}  # submission id -> its grading
        self.processes: dict[int, asyncio.subprocess.Process] = {}  # submission id -> its unit
        self.on_cluster: set[int] = set()  # submission ids whose unit is a cluster dispatcher
        self.recording: set[int] = set()  # submission ids in their record step
        self.slots: dict[int, int] = {}  # submission id -> its worker's sandbox slot
        self.ignored: set[str] = set()  # submitted before the assignment was enabled
        self.releases: dict[str, tuple] = {}  # assignment -> (its release's stamp, grading release)
        self.release_lock = asyncio.Lock()
        self.warm = WarmPool(self.logs, settings.workers, SLOT_OFFSET + settings.workers,
                             idle=settings.warm_idle, releases=settings.warm_releases,
                             zygotes=settings.zygotes) \
            if settings.warm else None
        # The record step, as the course owner: kept running between submissions (one per course)
        self.recorder = Recorder(owner, self.course, {
            "JUPYTER_CONFIG_PATH": staff_config_path,
            "PRIMER_EXCHANGE_ROOT": str(self.exchange_course.parent)},
            self.logs / "recorder.log", RECORD_TIMEOUT, keep=settings.keep_recorder)

    # ------------------------------------------------------------------ seeing submissions

    def discover(self) -> None:
        for assignment, switch in self.journal.enabled().items():
            try:
                names = self.reader.entries(assignment)
            except OSError as error:
                log.error("cannot read %s: %s", self.reader.inbound, error)
                return
            for name in names:
                if name in self.ignored or self.journal.known(name):
                    continue
                vetted = self.reader.vet(name, assignment)
                if vetted.incomplete:
                    continue  # still being written: seen again next time
                if vetted.refused:
                    self.journal.add(name, name.split("+")[0] or "?", assignment,
                                     _iso(time.time()), state="refused", notes=[vetted.refused])
                    continue
                stamp = vetted.timestamp.replace(tzinfo=None)
                if stamp < _naive_utc(switch["enabled_at"]):
                    self.ignored.add(name)  # the instructor collects those as before
                    continue
                self.journal.add(name, vetted.student, assignment, stamp.isoformat())
                self.notify(name, assignment, "Your submission is in the grading queue",
                            f"It is number {len(self.journal.pending())} in the queue. Feedback "
                            "usually follows within a few minutes.")

    def notify(self, entry: str, assignment: str, title: str, message: str) -> None:
        """A notice where the submission's feedback will appear (best effort: never stops the queue)."""
        from primer.exchange import SECRET, SMALL_FILE
        from primer.safecopy import read_regular_file

        try:
            secret = read_regular_file(str(self.reader.inbound / entry / SECRET), max_bytes=SMALL_FILE)
            notebooks = [p.stem for p in (self.course / "release" / assignment).glob("*.ipynb")]
            write_notice(self.exchange_course, self.owner, secret.decode("utf-8", "replace"),
                         notebooks, title, message)
        except Exception as error:  # noqa: BLE001 - a notice is a courtesy
            log.warning("no notice for %s: %s", entry, error)

    # ------------------------------------------------------------------ scheduling

    def schedule(self) -> None:
        now, enabled = time.time(), self.journal.enabled()
        busy = {self.journal.get(i).student for i in self.running}
        for item in self.journal.fair_order(self.journal.pending()):
            if len(self.running) >= self.settings.workers:
                return
            if item.student in busy or item.assignment not in enabled:
                busy.add(item.student)  # a student's submissions are graded in order
                continue
            busy.add(item.student)
            starts = self.journal.started_since(item.student, now - self.settings.window)
            if len(starts) >= self.settings.per_hour:
                if item.state != "deferred":
                    self.defer(item, min(starts) + self.settings.window)
                continue
            self.slots[item.id] = min(set(range(self.settings.workers)) - set(self.slots.values()))
            self.running[item.id] = asyncio.ensure_future(self.grade(item.id))

    def defer(self, item: Submission, after: float) -> None:
        when = time.strftime("%H:%M UTC", time.gmtime(after))
        note = (f"over the limit of {self.settings.per_hour} gradings per "
                f"{_duration(self.settings.window)}: kept, graded after {when}")
        self.journal.set_state(item.id, "deferred", note)
        self.notify(item.entry, item.assignment, "Your submission will be graded a little later",
                    f"You have had {self.settings.per_hour} submissions graded in the last "
                    f"{_duration(self.settings.window)}, the most the queue grades. This one is kept "
                    f"and will be graded after {when}.")

    # ------------------------------------------------------------------ one grading

    async def grade(self, submission_id: int) -> None:
        item = self.journal.get(submission_id)
        attempt = self.journal.start(submission_id)
        folder = self.work / f"{submission_id}-{attempt}"
        try:
            answer = await self._grade(item, folder, submission_id)
        except Exception as error:  # noqa: BLE001 - one grading never stops the queue
            log.exception("grading %s failed", item.entry)
            answer = {"status": "failed", "notes": [f"the queue could not grade it: {error}"]}
        finally:
            self.running.pop(submission_id, None)
            self.processes.pop(submission_id, None)
            self.slots.pop(submission_id, None)
        state = "graded" if answer.get("status") == "graded" else "failed"
        self.journal.finish(submission_id, state, recorded=bool(answer.get("recorded")),
                            score=answer.get("score"), max_score=answer.get("max_score"),
                            notes=answer.get("notes", []), flags=answer.get("flags", []))
        if state == "failed" and not answer.get("feedback"):
            self.notify(item.entry, item.assignment, "Your submission could not be graded automatically",
                        "The team will look at it. " + " ".join(answer.get("notes", []))[:600])
        if answer.get("status") != "refused":
            shutil.rmtree(folder, ignore_errors=True)

    async def _grade(self, item: Submission, folder: Path, submission_id: int) -> dict:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(mode=0o700)
        collected = folder / "submission"
        taken = await asyncio.to_thread(self.reader.take, item.entry, item.assignment, collected)
        if taken.refused:
            return {"status": "failed", "notes": [f"not collected: {taken.refused}"],
                    "flags": ["refused by the collect checks"]}
        async with self.release_lock:  # made once, by the first grading that needs it
            release = await asyncio.to_thread(self.release, item.assignment)
        if (backend := await asyncio.to_thread(queue_backend, self.course)) != "local":
            return await self._grade_on_cluster(backend, item, folder, collected, release)
        standby = None
        if self.warm is not None:  # a warm sandbox started ahead, used for this one submission
            try:
                standby = await self.warm.take(release)
                process = await self.warm.run(standby, {
                    "submission": str(collected), "scratch": str(folder / "scratch"),
                    "result": str(folder / "result"), "student": item.student,
                    "log": str(self.logs / f"{folder.name}.log")})
            except Exception as error:  # noqa: BLE001 - graded cold instead
                log.warning("grading %s cold: no warm sandbox (%s)", item.entry, error)
                if standby is not None:
                    await self.warm.done(standby)
                standby = None
        if standby is None:
            unit = [sys.executable, "-m", "primer.cli", "grade-one", "--release", str(release),
                    "--submission", str(collected), "--scratch", str(folder / "scratch"),
                    "--result", str(folder / "result"), "--student", item.student,
                    "--slot", str(SLOT_OFFSET + self.slots[submission_id])]
            with open(self.logs / f"{folder.name}.log", "wb") as unit_log:
                process = await asyncio.create_subprocess_exec(
                    "nice", "-n", "10", *unit, stdout=unit_log, stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL, start_new_session=True, cwd=str(folder))
        self.processes[submission_id] = process
        try:
            await asyncio.wait_for(process.wait(), self.settings.timeout)
        except asyncio.TimeoutError:
            kill_tree(process.pid)
            await process.wait()
            return {"status": "failed", "notes": [
                f"grading took longer than {self.settings.timeout} s and was stopped (an endless "
                "loop?)"]}
        finally:
            kill_tree(process.pid)  # whatever the unit left behind
            if standby is not None:  # its account swept, its folder wiped, the next one started
                await self.warm.done(standby)
        _append_outcome(folder / "result", self.logs / f"{folder.name}.log")
        return await self._record_once(item, folder, collected)

    async def _grade_on_cluster(self, backend: str, item: Submission, folder: Path, collected: Path,
                                release: Path) -> dict:
        """One task on the cluster c.ClusterGrading.queue_backend names, then the same record step."""
        log_path = self.logs / f"{folder.name}.log"
        self.on_cluster.add(item.id)  # a clean stop cancels its task on the cluster (``stop``)
        try:
            notes = await grade_on_cluster(self, backend, item, folder, collected, release, log_path)
        finally:
            self.on_cluster.discard(item.id)
        if isinstance(notes, dict):
            return notes  # out of time: cancelled, like a local unit that ran too long
        _append_outcome(folder / "result", log_path)
        answer = await self._record_once(item, folder, collected)
        answer["notes"] = [*notes, *answer.get("notes", [])]
        return answer

    async def _record_once(self, item: Submission, folder: Path, collected: Path) -> dict:
        """The record step, which a clean stop lets finish (``stop``): never cut half-way."""
        self.recording.add(item.id)
        try:
            return await self._record(item, folder, collected)
        finally:
            self.recording.discard(item.id)

    async def _record(self, item: Submission, folder: Path, collected: Path) -> dict:
        from primer.accounts import chown_tree

        entry = pwd.getpwnam(self.owner)
        chown_tree(folder, entry.pw_uid, entry.pw_gid)
        show = self.journal.enabled().get(item.assignment, {}).get("show_scores")
        show = self.settings.show_scores if show is None else bool(show)
        return await self.recorder.record(
            {"assignment": item.assignment, "student": item.student, "submission": str(collected),
             "result": str(folder / "result"), "log": str(self.logs / f"{folder.name}.log"),
             "show_scores": show}, failure_log=self.logs / f"{folder.name}.record.log")

    async def class_report(self, assignment: str) -> tuple[bool, str]:
        """(done, page or what went wrong): `primer report` of ``assignment``, made as the course
        owner (the gradebook and the autograded notebooks are theirs; root never parses them)."""
        from primer.queue.as_owner import run_as_owner

        done = await run_as_owner(
            self.owner, [sys.executable, "-m", "primer.report.page", assignment, "--course",
                         str(self.course), "--output", "-"],
            cwd=self.course, env={"JUPYTER_CONFIG_PATH": self.staff_config_path}, timeout=RECORD_TIMEOUT)
        if done.timed_out:
            return False, "making the report took too long"
        if done.returncode != 0:
            return False, done.err.decode(errors="replace").strip()[-1000:]
        return True, done.out.decode(errors="replace")

    def assignments(self) -> list[str]:
        """The course's released assignments (each has a class report)."""
        release = self.course / "release"
        return sorted(p.name for p in release.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if release.is_dir() else []

    def release(self, assignment: str) -> Path:
        """The grading release of ``assignment`` (primer.grading.unit), with the course-wide
        settings (the sandbox, the tamper checks); made again when the instructor regenerates
        the assignment."""
        stamp = _release_stamp(self.course / "release" / assignment)
        if self.releases.get(assignment, (None, None))[0] == stamp:
            return self.releases[assignment][1]  # made already, from this release
        from primer.accounts import run_as

        entry = pwd.getpwnam(self.owner)
        # A new folder for each release: gradings under way keep reading the one they started with.
        folder = self.work / f"release-{assignment}-{time.time_ns()}"  # the course owner's
        folder.mkdir(mode=0o700)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        destination = folder / "release"
        # Made as the course owner: the gradebook is theirs and stays so.
        run_as(self.owner, [sys.executable, "-c",
                            "import sys; from pathlib import Path; "
                            "from primer.grading.unit import prepare_release; "
                            "prepare_release(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))",
                            str(self.course), assignment, str(destination)],
               cwd=self.course, env={"JUPYTER_CONFIG_PATH": self.staff_config_path,
                                     "PRIMER_EXCHANGE_ROOT": str(self.exchange_course.parent)})
        # prepare_release writes the course-wide settings (the course folder's own file is empty
        # on the hub); the unit refuses to grade without the sandbox, and so does the queue.
        if HARDENED not in (destination / "nbgrader_config.py").read_text():
            raise RuntimeError(f"{self.course_config_file} does not run kernels in the sandbox "
                               f"({HARDENED}): the queue will not grade without it")
        self.releases[assignment] = (stamp, destination)
        return destination

    # ------------------------------------------------------------------ running

    async def run(self, every: float = 1.0) -> None:
        while True:
            try:
                self.discover()
                self.schedule()
            except Exception:  # noqa: BLE001 - the loop must go on; the log says what broke
                log.exception("the queue's loop failed; trying again")
            await asyncio.sleep(every)

    async def stop(self) -> None:
        """Stop every grading now; their submissions wait again in the journal and are graded
        at the next start. A task on a cluster is cancelled there: its dispatcher gets SIGTERM
        and cancels it (scancel; the Job deleted), then is killed; a local unit is killed."""
        if self.warm is not None:  # first: a grading cut short gives its standby back, none starts
            self.warm.stop()
        recording = {i: task for i, task in self.running.items() if i in self.recording}
        cut_short = [i for i in self.running if i not in recording]
        processes, on_cluster = dict(self.processes), set(self.on_cluster)
        for submission_id in cut_short:
            self.running[submission_id].cancel()  # never finished in the journal: put back below
        dispatchers = []
        for submission_id, process in processes.items():
            if process.returncode is not None:
                continue
            if submission_id in on_cluster:
                process.send_signal(signal.SIGTERM)
                dispatchers.append(process)
            else:
                kill_tree(process.pid)
        for submission_id in cut_short:  # before any wait: the hub kills the service after 10 s
            self.journal.put_back(submission_id, STOPPED_NOTE)
        waited = [asyncio.ensure_future(p.wait()) for p in dispatchers] + list(recording.values())
        if waited:  # dispatchers cancelling their tasks, record steps finishing
            await asyncio.wait(waited, timeout=STOP_CANCEL_SECONDS)
        for process in dispatchers:
            kill_tree(process.pid)
        for submission_id, grading in recording.items():
            if not grading.done():
                grading.cancel()
                self.journal.put_back(submission_id, STOPPED_NOTE)  # only a row still 'grading' moves
        self.recorder.kill()  # last: the record steps above finish in it

    def status(self) -> dict:
        items = self.journal.all()
        waits = [i.waited for i in items if i.waited is not None]
        took = [i.finished_at - i.started_at for i in items
                if i.state in ("graded", "failed") and i.finished_at and i.started_at]
        counts: dict[str, int] = {}
        for item in items:
            counts[item.state] = counts.get(item.state, 0) + 1
        return {
            "settings": {"workers": self.settings.workers, "per_hour": self.settings.per_hour,
                         "window": self.settings.window, "timeout": self.settings.timeout,
                         "show_scores": self.settings.show_scores},
            "enabled": sorted(self.journal.enabled()),
            "assignments": self.assignments(),
            "counts": counts,
            "wait_seconds": _summary(waits),
            "total_seconds": _summary([i.finished_at - i.seen_at for i in items
                                       if i.finished_at and i.state in ("graded", "failed")]),
            "grading_seconds": _summary(took),
            "submissions": [i.as_dict() for i in items],
        }


def _release_stamp(folder: Path) -> tuple:
    """What changes when `nbgrader generate_assignment` writes the release again."""
    return tuple(sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns)
                        for p in folder.rglob("*") if p.is_file()))


def _append_outcome(result: Path, log_path: Path) -> None:
    """nbgrader's error and log from the unit's result, into the grading's log for the staff."""
    try:
        record = json.loads((result / "result.json").read_text())
    except (OSError, ValueError):
        return
    with open(log_path, "a") as log_file:
        log_file.write(f"\n--- nbgrader's log\n{record.get('log', '')}\n{record.get('error', '')}\n")


def _summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "median": None, "max": None}
    return {"count": len(values), "median": round(statistics.median(values), 1),
            "max": round(max(values), 1)}


def _duration(seconds: int) -> str:
    return "hour" if seconds == 3600 else f"{seconds} s"


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _naive_utc(seconds: float):
    """A time.time() as nbgrader's timestamps are: a UTC datetime without a time zone."""
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


def queue_from_environment() -> GradingQueue:
    """The queue of the hub that started this service (``service_environment`` wrote these)."""
    env = os.environ
    return GradingQueue(runtime_root=Path(env["PRIMER_RUNTIME"]), course=Path(env["PRIMER_QUEUE_COURSE"]),
                        owner=env["PRIMER_QUEUE_OWNER"],
                        exchange_course=Path(env["PRIMER_EXCHANGE_ROOT"]) / "primer",
                        course_config_file=Path(env["PRIMER_QUEUE_COURSE_CONFIG"]),
                        staff_config_path=env["JUPYTER_CONFIG_PATH"],
                        settings=QueueSettings.from_environment())


async def serve() -> None:
    from urllib.parse import urlparse

    from primer.queue.status_page import make_app

    queue = queue_from_environment()
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8004"))
    make_app(queue).listen(url.port, url.hostname)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    log.info("grading queue at %s: grading on submit %s", url.geturl(),
             ", ".join(queue.journal.enabled()) or "nothing yet (primer queue enable <assignment>)")
    runner = asyncio.ensure_future(queue.run())
    await stopping.wait()
    runner.cancel()
    await queue.stop()
    log.info("grading queue stopped; unfinished gradings are done again at the next start")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="[grading-queue %(asctime)s] %(message)s")
    log.setLevel(logging.INFO)
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
