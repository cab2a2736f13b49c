"""The course hub on Kubernetes (deploy/kubernetes/hub, primer/hub/kubernetes.py), checked without a cluster.

No cluster can run where the course is developed. What is checked instead:

* the values file's ``hub.extraConfig`` runs on top of what Zero to JupyterHub's
  own jupyterhub_config.py makes of the values file (the keys the course uses),
  and a real JupyterHub initialises with it: groups, roles, admins, log-in;
* KubeSpawner (``_mock=True``, offline kubeconfig) builds the pods of a student,
  a grader, the instructor and the grader account from that configuration; they
  validate strictly against the API of the Kubernetes version docs/cluster.md
  names, and their UIDs, groups, mounts, limits, environment and security
  context are the course's;
* the pod's start command gives it its accounts through Debian's nss_wrapper
  (real ``pwd``/``grp`` look-ups, as nbgrader's collect does them);
* the hub image holds what the course's hub modules import; the user image
  pins JupyterHub to the chart's hub version and everything else to the course's.

With ``Z2JH_CHART`` pointing at the unpacked chart 4.4.0 (a folder with
values.yaml and values.schema.json or .yaml): the values validate against the
chart's schema, and a misspelled key is rejected. With ``helm`` too: ``helm
template`` renders. Without them those tests skip and say why.
"""
from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml

from primer.course import COURSE_ID
from primer.grading.backends.kubernetes import KUBERNETES_VERSION
from primer.hub.course_setup import STAFF_GROUP, STUDENT_GROUP, server_config_path, write_server_config
from primer.hub.kubernetes import GRADER_USER, GRADING_SERVICE_ACCOUNT, UID_BASE
from primer.hub.kubernetes_pod import GRADING_CLAIM, GRADING_MOUNT, HOME, STAFF_GID, nss_files
from primer.hub.runtime import HubRuntime, parse_memory

REPO = Path(__file__).resolve().parent.parent
HUB = REPO / "deploy" / "kubernetes" / "hub"
sys.path.insert(0, str(HUB))
from image_requirements import CHART_VERSION, HUB_JUPYTERHUB, image_requirements  # noqa: E402

ROSTER = "username,role\nada,student\nalan,student\ngrace,grader\nemmy,instructor\n"
# Made per run: the hub refuses a password that is written in the repository.
PASSWORDS = {"PRIMER_STUDENT_PASSWORD": secrets.token_hex(6),
             "PRIMER_INSTRUCTOR_PASSWORD": secrets.token_urlsafe(30)}
PEOPLE = {"student": "ada", "grader": "grace", "instructor": "head-instructor", "course": GRADER_USER}
IMAGE_RUNTIME = "/srv/primer"  # PRIMER_RUNTIME in both images (Dockerfiles)
# Zero to JupyterHub 4.4.0's hub image: the distributions in its images/hub/requirements.txt.
HUB_IMAGE_PACKAGES = set("""
aiohappyeyeballs aiohttp aiosignal alembic annotated-types arrow attrs bcrypt cachetools certifi
certipy cffi charset-normalizer cryptography escapism fqdn frozenlist google-auth
google-auth-oauthlib greenlet idna isoduration jinja2 jsonpointer jsonschema
jsonschema-specifications jupyter-events jupyterhub jupyterhub-firstuseauthenticator
jupyterhub-hmacauthenticator jupyterhub-idle-culler jupyterhub-kubespawner
jupyterhub-ldapauthenticator jupyterhub-ltiauthenticator jupyterhub-nativeauthenticator
jupyterhub-tmpauthenticator kubernetes-asyncio lark ldap3 mako markupsafe multidict mwoauth
oauthenticator oauthlib onetimepass packaging pamela prometheus-client propcache psycopg2 pyasn1
pyasn1-modules pycparser pycurl pydantic pydantic-core pyjwt pymysql python-dateutil
python-json-logger python-slugify pyyaml referencing requests requests-oauthlib rfc3339-validator
rfc3986-validator rfc3987-syntax rpds-py ruamel-yaml six sqlalchemy sqlalchemy-cockroachdb statsd
text-unidecode tornado traitlets typing-extensions typing-inspection tzdata uri-template urllib3
webcolors yarl""".split())
OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
current-context: offline
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((HUB / "values.yaml").read_text())


def chart_config(values):
    """What Zero to JupyterHub 4.4.0's jupyterhub_config.py makes of the values the course sets."""
    from traitlets.config import Config

    c = Config()
    single = values["singleuser"]
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.authenticator_class = "dummy"  # the chart's default hub.config, replaced by the course's
    assert values["cull"]["enabled"]  # the chart then adds its culler's service and role
    c.JupyterHub.load_roles = [{"name": "jupyterhub-idle-culler", "services": ["jupyterhub-idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers",
                                           "delete:servers"]}]
    c.JupyterHub.services = [{"name": "jupyterhub-idle-culler", "command": ["true"]}]
    c.KubeSpawner.image = f"{single['image']['name']}:{single['image']['tag']}"
    c.KubeSpawner.cmd = single["cmd"]
    c.KubeSpawner.default_url = single["defaultUrl"]
    c.KubeSpawner.start_timeout = single["startTimeout"]
    c.KubeSpawner.uid, c.KubeSpawner.fs_gid = 1000, 100  # the chart's defaults, replaced by the course's
    c.KubeSpawner.allow_privilege_escalation = single["allowPrivilegeEscalation"]
    c.KubeSpawner.environment = single["extraEnv"]
    c.KubeSpawner.mem_guarantee = single["memory"]["guarantee"]
    c.KubeSpawner.cpu_guarantee = single["cpu"]["guarantee"]
    storage = single["storage"]
    assert storage["type"] == "dynamic"
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.storage_capacity = storage["capacity"]
    volumes = {"volume-{user_server}": {"name": "volume-{user_server}",
                                        "persistentVolumeClaim": {"claimName": "{pvc_name}"}}}
    mounts = {"volume-{user_server}": {"name": "volume-{user_server}",
                                       "mountPath": storage["homeMountPath"]}}
    volumes.update({v["name"]: v for v in storage["extraVolumes"]})
    mounts.update({f"{i}-{m['name']}": m for i, m in enumerate(storage["extraVolumeMounts"])})
    c.KubeSpawner.volumes, c.KubeSpawner.volume_mounts = volumes, mounts
    for key, config_py in sorted(values["hub"]["extraConfig"].items()):
        exec(config_py, {"c": c})  # as the chart does, in order
    return c


@pytest.fixture(scope="module")
def hub(values, tmp_path_factory):
    """A real JupyterHub initialised with the chart's settings and the course's extraConfig."""
    from jupyterhub.app import JupyterHub

    folder = tmp_path_factory.mktemp("k8s-hub")
    (folder / "roster.csv").write_text(ROSTER)
    (folder / "kubeconfig").write_text(OFFLINE_KUBECONFIG)
    env = {k: v for k, v in values["hub"]["extraEnv"].items() if isinstance(v, str)}
    assert set(values["hub"]["extraEnv"]) - set(env) == set(PASSWORDS), "passwords come from a Secret"
    env.update(PASSWORDS, PRIMER_ROSTER=str(folder / "roster.csv"), PRIMER_RUNTIME=str(folder / "runtime"),
               PRIMER_COURSE_SOURCE=str(REPO), KUBECONFIG=str(folder / "kubeconfig"))
    loop = asyncio.new_event_loop()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(folder)
        # kubernetes_asyncio read KUBECONFIG when it was imported: tell it where the offline one is.
        from kubernetes_asyncio.config import kube_config
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(folder / "kubeconfig"))
        app = JupyterHub(config=chart_config(values), db_url="sqlite://", cookie_secret=os.urandom(32))
        loop.run_until_complete(app.initialize([]))
        yield app, HubRuntime.from_environment(), loop
        pending = asyncio.all_tasks(loop)  # KubeSpawner's client-closing tasks
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
    loop.close()


@pytest.fixture(scope="module")
def pods(hub):
    """Pod manifests (as the API receives them) by role: student, grader, instructor, course (grader account)."""
    from kubernetes_asyncio.client import ApiClient

    app, _, loop = hub

    async def manifest(name: str) -> dict:  # KubeSpawner makes its API client in the event loop
        spawner = app.spawner_class(_mock=True, user=app.users[name], hub=app.hub, config=app.config)
        return ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())

    found = {role: loop.run_until_complete(manifest(name)) for role, name in PEOPLE.items()}
    return found


def container(pod) -> dict:
    (only,) = pod["spec"]["containers"]
    return only


def env_of(pod) -> dict:
    return {e["name"]: e.get("value") for e in container(pod)["env"]}


def image_runtime() -> HubRuntime:
    """Where things are inside the pods (PRIMER_RUNTIME of the images)."""
    return HubRuntime(root=Path(IMAGE_RUNTIME), ip="", port=0, instructors=(), students=())


# -- the hub ----------------------------------------------------------------------------------

def test_the_hub_loads_the_course_with_kubespawner(hub):
    from kubespawner import KubeSpawner
    from primer.hub.kubernetes import CourseKubeSpawner

    from primer.hub.auth import WorkshopAuthenticator

    app, runtime, _ = hub
    assert app.spawner_class is CourseKubeSpawner and issubclass(app.spawner_class, KubeSpawner)
    assert type(app.authenticator) is WorkshopAuthenticator
    assert runtime.students == ("ada", "alan") and runtime.graders == ("grace",)
    assert runtime.instructors == ("head-instructor", "emmy")
    from jupyterhub import orm

    admins = {u.name for u in app.db.query(orm.User).filter_by(admin=True)}
    assert admins == {"head-instructor", "emmy"}


def test_groups_and_roles_are_what_the_course_needs(hub):
    from jupyterhub import orm
    from jupyterhub.scopes import get_scopes_for, has_scope

    app, runtime, _ = hub
    groups = {g.name: {u.name for u in g.users} for g in app.db.query(orm.Group)}
    assert groups[STAFF_GROUP] == {"head-instructor", "emmy", "grace", GRADER_USER}
    assert groups[STUDENT_GROUP] == {"ada", "alan"}
    formgrader = f"access:servers!user={GRADER_USER}"
    for name in ("head-instructor", "emmy", "grace"):
        scopes = get_scopes_for(app.users[name].orm_user)
        assert has_scope(formgrader, scopes, db=app.db), name
        assert has_scope(f"servers!user={GRADER_USER}", scopes, db=app.db), name
    for name, other in zip(runtime.students, reversed(runtime.students)):
        scopes = get_scopes_for(app.users[name].orm_user)
        assert not has_scope(formgrader, scopes, db=app.db), name
        assert not has_scope(f"access:servers!user={other}", scopes, db=app.db), name
        assert has_scope(f"access:servers!user={name}", scopes, db=app.db), name
    assert not has_scope("admin:users", get_scopes_for(app.users["grace"].orm_user), db=app.db)
    # the chart's culler keeps its own role
    assert {r.name for r in app.db.query(orm.Role)} >= {"jupyterhub-idle-culler", f"formgrader-{COURSE_ID}"}


def test_nobody_logs_in_as_the_grader_account(hub):
    from jupyterhub import orm
    from jupyterhub.scopes import get_scopes_for
    from tornado.web import HTTPError

    app, _, loop = hub
    login = app.authenticator.get_authenticated_user
    student, staff = PASSWORDS["PRIMER_STUDENT_PASSWORD"], PASSWORDS["PRIMER_INSTRUCTOR_PASSWORD"]
    grader_account = orm.User.find(app.db, GRADER_USER)
    assert grader_account is not None  # the staff start its server
    assert get_scopes_for(grader_account)  # it keeps its own rights (its server reports activity)
    # The students' password is right for a non-staff name: the post-login hook refuses it.
    with pytest.raises(HTTPError, match="log in with your own name") as refused:
        loop.run_until_complete(login(None, {"username": GRADER_USER, "password": student}))
    assert refused.value.status_code == 403
    assert loop.run_until_complete(login(None, {"username": GRADER_USER, "password": staff})) is None
    assert loop.run_until_complete(login(None, {"username": "ada", "password": student}))["name"] == "ada"
    assert loop.run_until_complete(login(None, {"username": "grace", "password": student})) is None
    assert loop.run_until_complete(login(None, {"username": "grace", "password": staff}))["name"] == "grace"


def test_the_hub_needs_its_passwords_from_a_secret(values, monkeypatch):
    monkeypatch.delenv("PRIMER_INSTRUCTOR_PASSWORD", raising=False)
    monkeypatch.setenv("PRIMER_STUDENT_PASSWORD", PASSWORDS["PRIMER_STUDENT_PASSWORD"])
    with pytest.raises(ValueError, match="PRIMER_INSTRUCTOR_PASSWORD.*Secret"):
        chart_config(values)


# -- the pods ---------------------------------------------------------------------------------

def test_the_pods_validate_strictly_for_the_documented_kubernetes_version(pods, tmp_path):
    assert f"Kubernetes {KUBERNETES_VERSION}" in (REPO / "docs" / "cluster.md").read_text()
    assert f"Kubernetes {KUBERNETES_VERSION}" in (REPO / "docs" / "kubernetes.md").read_text()
    validate = [sys.executable, "-m", "kubernetes_validate"]  # a test tool (scripts/test-tools)
    manifest = tmp_path / "pods.yaml"

    def check(documents) -> subprocess.CompletedProcess:
        manifest.write_text("---\n".join(yaml.safe_dump(d) for d in documents))
        return subprocess.run([*validate, "--strict", "--kubernetes-version",
                               f"{KUBERNETES_VERSION}.0", str(manifest)], capture_output=True, text=True)

    done = check(pods.values())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == len(pods), done.stdout
    # The check can fail: an unknown field is an error under --strict.
    broken = yaml.safe_load(yaml.safe_dump(pods["student"]))
    container(broken)["securityContext"]["runAsRoot"] = False
    assert check([broken]).returncode != 0


def test_every_person_runs_as_their_own_uid_and_group(pods, hub):
    app, _, _ = hub
    uids = {}
    for role, name in PEOPLE.items():
        pod = pods[role]
        context, security = pod["spec"]["securityContext"], container(pods[role])["securityContext"]
        uid = UID_BASE + app.users[name].id
        assert security["runAsUser"] == security["runAsGroup"] == context["fsGroup"] == uid, role
        uids[role] = uid
        staff = role != "student"
        assert (STAFF_GID in context.get("supplementalGroups", [])) is staff, role
    assert len(set(uids.values())) == len(PEOPLE) and min(uids.values()) > UID_BASE


def test_the_pods_are_locked_down(pods):
    for role, pod in pods.items():
        security = container(pod)["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0, role
        assert security["allowPrivilegeEscalation"] is False, role
        assert security["capabilities"] == {"drop": ["ALL"]}, role
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, role
        # Only the grader account's server may run the grading Jobs (grading-rbac.yaml).
        grader = role == "course"
        assert pod["spec"]["automountServiceAccountToken"] is grader, role
        assert (pod["spec"].get("serviceAccountName") == GRADING_SERVICE_ACCOUNT) is grader, role
        assert "privileged" not in security or security["privileged"] is False, role


def test_the_exchange_is_shared_and_the_data_read_only(pods, values):
    where = image_runtime()
    claims = {v["name"]: v["persistentVolumeClaim"] for v in values["singleuser"]["storage"]["extraVolumes"]}
    for role, pod in pods.items():
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        mounts = {m["mountPath"]: m for m in container(pod)["volumeMounts"]}
        exchange, data = mounts[str(where.exchange)], mounts[str(where.shared_data)]
        assert not exchange.get("readOnly"), role
        assert data["readOnly"] is True and claims[data["name"]]["readOnly"] is True, role
        assert volumes[data["name"]]["persistentVolumeClaim"]["readOnly"] is True, role
        assert (GRADING_MOUNT in mounts) is (role == "course"), role  # students' work, staff only
        home = mounts["/home/jovyan"]
        name = PEOPLE[role]
        assert volumes[home["name"]]["persistentVolumeClaim"]["claimName"] == f"claim-{name}", role
    assert claims["exchange"]["claimName"] != claims["shared-data"]["claimName"]


def test_limits_are_the_local_hubs(pods, hub):
    _, runtime, _ = hub
    assert runtime.mem_limit == 2 * 1024**3 and runtime.cpu_limit == 1.0  # PRIMER_MEM/CPU_LIMIT
    for role, pod in pods.items():
        resources = container(pod)["resources"]
        assert int(resources["limits"]["memory"]) == runtime.mem_limit, role
        assert float(resources["limits"]["cpu"]) == runtime.cpu_limit, role
        assert resources["requests"] == {"memory": parse_memory("512M"), "cpu": 0.25}, role


def test_environment_per_role(pods, hub):
    app, runtime, _ = hub
    where = image_runtime()
    from jupyterhub import orm

    everyone = {name for name, in app.db.query(orm.User.name)}
    assert everyone == {"head-instructor", "emmy", "grace", "ada", "alan", GRADER_USER}
    for role, pod in pods.items():
        env = env_of(pod)
        assert env["NILEARN_SHARED_DATA"] == str(where.shared_data), role
        assert env["PRIMER_EXCHANGE_ROOT"] == str(where.exchange), role
        kind = "student" if role == "student" else "staff"
        assert env["JUPYTER_CONFIG_PATH"] == server_config_path(runtime, kind), role
        accounts = dict(entry.split(":") for entry in env["PRIMER_ACCOUNTS"].split())
        if role == "student":  # a student's pod knows no one else
            assert accounts == {"ada": str(UID_BASE + app.users["ada"].id)}
        else:  # nbgrader's collect checks who owns each submission
            assert set(accounts) == everyone, role
        assert (env.get("PRIMER_COURSE_OWNER") == "1") is (role == "course"), role
        assert env["JUPYTERHUB_DEFAULT_URL"] == ("/formgrader" if role == "course" else "/lab"), role


def test_the_images_and_the_values_agree_on_paths(values):
    assert f"ENV PRIMER_RUNTIME={IMAGE_RUNTIME}" in (HUB / "Dockerfile.hub").read_text()
    user = (HUB / "Dockerfile.user").read_text()
    assert f"PRIMER_RUNTIME={IMAGE_RUNTIME}" in user
    venv = Path(values["singleuser"]["cmd"][0]).parents[1]  # the command is the image venv's python
    assert f"python3 -m venv {venv} " in user
    assert values["singleuser"]["storage"]["homeMountPath"] == HOME  # the accounts' home in the pod
    mounts = {m["name"]: m["mountPath"] for m in values["singleuser"]["storage"]["extraVolumeMounts"]}
    assert mounts == {"exchange": str(image_runtime().exchange),
                      "shared-data": str(image_runtime().shared_data)}
    # The chart's idle culler uses the local hub's default timeout.
    assert values["cull"]["timeout"] == HubRuntime.__dataclass_fields__["idle_timeout"].default
    assert values["cull"]["enabled"] is True


# -- inside a pod ------------------------------------------------------------------------------

def test_the_pod_start_command_gives_the_accounts_through_nss_wrapper(pods, tmp_path):
    wrapper = Path("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so")
    assert wrapper.exists(), "apt-get install libnss-wrapper (deploy/debian-packages.txt)"
    env = env_of(pods["grader"])
    probe = ("import grp, pwd; print(pwd.getpwnam('ada').pw_uid, pwd.getpwnam('grace').pw_dir, "
             f"grp.getgrnam({STAFF_GROUP!r}).gr_gid)")
    done = subprocess.run(
        [sys.executable, "-m", "primer.hub.kubernetes_pod", "start", sys.executable, "-c", probe],
        env=dict(os.environ, PRIMER_ACCOUNTS=env["PRIMER_ACCOUNTS"], PRIMER_STAFF_GID=env["PRIMER_STAFF_GID"],
                 PRIMER_NSS_WRAPPER=str(wrapper), PRIMER_NSS_FOLDER=str(tmp_path / "nss")),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    accounts = dict(entry.split(":") for entry in env["PRIMER_ACCOUNTS"].split())
    assert done.stdout.split() == [accounts["ada"], "/home/jovyan", str(STAFF_GID)]


@pytest.mark.root
def test_the_grader_accounts_first_start_prepares_the_course_without_root(pods):
    """As the pod runs it: an unprivileged UID with the staff group, accounts from nss_wrapper."""
    if os.geteuid() != 0:
        pytest.fail("running as another UID needs root: run `sudo make test`")
    env = env_of(pods["course"])
    uid = int(container(pods["course"])["securityContext"]["runAsUser"])
    with tempfile.TemporaryDirectory(prefix="primer-k8s-owner-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        runtime = HubRuntime(root=root / "srv", ip="", port=0, instructors=(), students=())
        write_server_config(runtime, REPO)  # what Dockerfile.user does at build time
        runtime.exchange.mkdir(parents=True)
        runtime.exchange.chmod(0o1777)  # what volumes.yaml's Job does once
        home, nss = root / "home", root / "nss"  # the pod's volume and its /tmp
        for folder in (home, nss):
            folder.mkdir()
            os.chown(folder, uid, uid)
        pod_env = {"PATH": os.environ["PATH"], "HOME": str(home), "PRIMER_RUNTIME": str(runtime.root),
                   "PRIMER_COURSE_SOURCE": str(REPO), "PRIMER_NSS_FOLDER": str(nss),
                   "PRIMER_EXCHANGE_ROOT": str(runtime.exchange),
                   **{k: env[k] for k in ("PRIMER_ACCOUNTS", "PRIMER_STAFF_GID", "PRIMER_COURSE_OWNER",
                                          "PRIMER_NAMESPACE", "JUPYTER_IMAGE")}}

        def start() -> subprocess.CompletedProcess:
            probe = "import os; print(os.getuid(), sorted(os.getgroups()))"
            return subprocess.run(
                [sys.executable, "-m", "primer.hub.kubernetes_pod", "start", sys.executable, "-c", probe],
                user=uid, group=uid, extra_groups=[STAFF_GID], cwd=home, env=pod_env,
                capture_output=True, text=True, timeout=120)

        done = start()
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == str(uid)
        course = home / "primer-course"
        assert sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) == sorted(
            p.name for p in (REPO / "source").iterdir() if p.is_dir())
        personal = (home / ".jupyter" / "nbgrader_config.py").read_text()
        assert f"c.CourseDirectory.root = {str(course)!r}" in personal
        # The grading Jobs run as this account, in its namespace, on the grading volume.
        for setting in (f"c.ClusterGrading.run_as_user = {uid}", f"c.ClusterGrading.namespace = "
                        f"{env['PRIMER_NAMESPACE']!r}", f"c.ClusterGrading.volume_claim = {GRADING_CLAIM!r}"):
            assert setting in personal
        inbound = (runtime.exchange / "primer" / "inbound").stat()
        assert (inbound.st_uid, inbound.st_gid) == (uid, STAFF_GID)
        assert oct(inbound.st_mode & 0o7777) == oct(0o3773)  # staff read, students only create
        # A second start keeps the instructor's work.
        notebook = next((course / "source").glob("*/*.ipynb"))
        notebook.write_text(notebook.read_text() + " ")
        assert start().returncode == 0
        assert notebook.read_text().endswith(" ")


def test_a_bad_accounts_list_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="not name:uid"):
        nss_files("ada:100001 grace", STAFF_GID, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PRIMER_ACCOUNTS"}
    done = subprocess.run([sys.executable, "-m", "primer.hub.kubernetes_pod", "start", "true"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "started by the course hub" in done.stderr


# -- the images --------------------------------------------------------------------------------

def _third_party_imports(module_names) -> set[str]:
    found = set()
    for name in module_names:
        tree = ast.parse(Path(sys.modules[name].__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [node.module.split(".")[0]]
            else:
                continue
            found.update(t for t in tops if t not in sys.stdlib_module_names and t != "primer")
    return found


def test_the_hub_image_holds_what_the_course_modules_import():
    subprocess_modules = subprocess.run(
        [sys.executable, "-c", "import sys, primer.hub.kubernetes; "
         "print(' '.join(m for m in sys.modules if m.startswith('primer')))"],
        capture_output=True, text=True, check=True).stdout.split()
    import primer.hub.kubernetes  # noqa: F401 (loads the same modules here)
    distributions = importlib.metadata.packages_distributions()
    needed = {normalize(d) for top in _third_party_imports(subprocess_modules) for d in distributions[top]}
    text = (HUB / "Dockerfile.hub").read_text()
    extras = {normalize(n) for n in re.search(r"-c \S+constraints.txt \\\n\s+([^\\\n]+)", text).group(1).split()}
    available = HUB_IMAGE_PACKAGES | extras
    assert needed <= available, f"add {sorted(needed - available)} to Dockerfile.hub"
    # the extras are installed without dependencies: theirs must be there too
    for extra in extras:
        requires = importlib.metadata.requires(extra) or []
        direct = {normalize(re.split(r"[ ;<>=!~\[]", r)[0]) for r in requires if "extra ==" not in r}
        assert direct <= available, f"{extra} needs {sorted(direct - available)} in Dockerfile.hub"


def test_the_user_image_pins_the_hubs_jupyterhub_and_the_course_for_the_rest():
    requirements, constraints = image_requirements(REPO)
    course = (REPO / "constraints.txt").read_text().splitlines()
    image = constraints.splitlines()
    changed = {(a, b) for a, b in zip(course, image) if a != b}
    assert len(course) == len(image) and len(changed) == 1
    (before, after), = changed
    assert before.startswith("jupyterhub==6.") and after == f"jupyterhub=={HUB_JUPYTERHUB}"
    assert f"jupyterhub=={HUB_JUPYTERHUB}" in requirements.splitlines()
    assert "jupyterhub-kubespawner==7.0.0" in requirements.splitlines()  # the chart's hub runs 7.0.0
    assert f"version {CHART_VERSION}" in (HUB / "values.yaml").read_text()
    assert f"jupyterhub-{HUB_JUPYTERHUB}" in yaml.safe_load((HUB / "values.yaml").read_text())[
        "singleuser"]["image"]["tag"]


@pytest.mark.parametrize("dockerfile", ["Dockerfile.user", "Dockerfile.hub"])
def test_what_the_dockerfiles_copy_is_in_the_repository(dockerfile):
    """They cannot be built here (no container runtime): at least their sources must exist."""
    copies = re.findall(r"^COPY (.+) \S+$", (HUB / dockerfile).read_text(), re.MULTILINE)
    sources = [source for line in copies for source in line.split()]
    assert "primer" in sources and "pyproject.toml" in sources
    missing = [source for source in sources if not (REPO / source).exists()]
    assert not missing, f"{dockerfile} copies {missing}, which the repository does not have"


def test_the_volume_and_grading_manifests_validate_strictly(values, pods):
    manifests = [HUB / "volumes.yaml", HUB / "grading-rbac.yaml"]
    documents = [d for path in manifests for d in yaml.safe_load_all(path.read_text())]
    claims = {d["metadata"]["name"]: d for d in documents if d["kind"] == "PersistentVolumeClaim"}
    used = {v["persistentVolumeClaim"]["claimName"] for v in values["singleuser"]["storage"]["extraVolumes"]}
    assert used | {GRADING_CLAIM} == set(claims)
    for claim in claims.values():
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    accounts = {d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"}
    assert pods["course"]["spec"]["serviceAccountName"] in accounts
    # the API is reachable from the grader account's pod only
    (api,) = [d for d in documents if d["kind"] == "NetworkPolicy"]
    selector = api["spec"]["podSelector"]["matchLabels"]
    for role, pod in pods.items():
        assert (selector.items() <= pod["metadata"]["labels"].items()) is (role == "course"), role
    validate = [sys.executable, "-m", "kubernetes_validate"]  # a test tool (scripts/test-tools)
    done = subprocess.run([*validate, "--strict", "--kubernetes-version", f"{KUBERNETES_VERSION}.0",
                           *map(str, manifests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == len(documents), done.stdout


# -- with the chart -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> Path:
    given = os.environ.get("Z2JH_CHART")
    if not given:
        pytest.skip("Z2JH_CHART is not set: point it at Zero to JupyterHub's chart 4.4.0 (the unpacked "
                    "jupyterhub/ folder or its .tgz) to check the values against the chart")
    path = Path(given)
    if path.is_file():
        folder = tmp_path_factory.mktemp("chart")
        with tarfile.open(path) as archive:
            archive.extractall(folder, filter="data")
        path = folder / "jupyterhub"
    assert (path / "values.yaml").exists(), f"Z2JH_CHART={given}: no values.yaml in {path}"
    return path


def _merge(defaults: dict, given: dict) -> dict:
    merged = dict(defaults)
    for key, value in given.items():
        both = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        merged[key] = _merge(defaults[key], value) if both else value
    return merged


def _schema_errors(chart: Path, values: dict) -> list[str]:
    import json

    import jsonschema

    schema_file = chart / "values.schema.json"
    schema = (json.loads(schema_file.read_text()) if schema_file.exists()
              else yaml.safe_load((chart / "values.schema.yaml").read_text()))
    merged = _merge(yaml.safe_load((chart / "values.yaml").read_text()), values)
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(merged)]


def test_the_values_match_the_charts_schema_and_a_misspelled_key_is_rejected(chart, values):
    assert _schema_errors(chart, values) == []
    misspelled = yaml.safe_load(yaml.safe_dump(values))
    misspelled["singleuser"]["extraEnvironment"] = misspelled["singleuser"].pop("extraEnv")
    assert any("extraEnvironment" in e for e in _schema_errors(chart, misspelled))


def test_helm_template_renders_and_rejects_a_misspelled_key(chart, values, tmp_path):
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed: the values were checked against the chart's schema only")
    render = [helm, "template", "primer", str(chart), "--namespace", "primer",
              "--set", "hub.db.password=offline-check", "--values"]
    done = subprocess.run(render + [str(HUB / "values.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(done.stdout) if d}
    assert {"Deployment", "NetworkPolicy", "Secret"} <= kinds
    misspelled = yaml.safe_load(yaml.safe_dump(values))
    misspelled["singleuser"]["extraEnvironment"] = misspelled["singleuser"].pop("extraEnv")
    wrong = tmp_path / "values.yaml"
    wrong.write_text(yaml.safe_dump(misspelled))
    done = subprocess.run(render + [str(wrong)], capture_output=True, text=True)
    assert done.returncode != 0 and "extraEnvironment" in done.stderr


def test_the_graders_egress_reaches_the_api_server_address_only():
    """docs/kubernetes.md: the grader account's server reaches the Kubernetes API, nothing else."""
    documents = list(yaml.safe_load_all((HUB / "grading-rbac.yaml").read_text()))
    (api,) = [d for d in documents if d["kind"] == "NetworkPolicy"]
    assert api["spec"]["policyTypes"] == ["Egress"]
    for rule in api["spec"]["egress"]:
        blocks = [peer["ipBlock"] for peer in rule.get("to", [])]
        assert blocks and len(blocks) == len(rule["to"]), f"egress to any address: {rule}"
        assert all(b["cidr"].endswith("/32") and not b.get("except") for b in blocks), blocks
        assert {p["port"] for p in rule["ports"]} <= {443, 6443}
    docs = (REPO / "docs" / "kubernetes.md").read_text()
    assert "kubectl get endpoints kubernetes" in docs and "API server's own address only" in docs


def test_the_volumes_have_the_storage_class_the_docs_tell_you_to_set():
    text = (HUB / "volumes.yaml").read_text()
    claims = [d for d in yaml.safe_load_all(text) if d["kind"] == "PersistentVolumeClaim"]
    classes = {claim["spec"].get("storageClassName") for claim in claims}
    assert classes == {"rwx-storage-class"}, classes
    assert "storageClassName (rwx-storage-class, three times)" in (REPO / "docs" / "kubernetes.md").read_text()


def test_kubectl_is_a_supported_release_and_the_manifests_validate_for_it(values, pods, tmp_path):
    """The user image's kubectl is the one docs/kubernetes.md names, and the manifests are valid there."""
    pinned = re.search(r"^ARG KUBECTL_VERSION=v(\d+)\.(\d+)\.(\d+)$",
                       (HUB / "Dockerfile.user").read_text(), re.M)
    assert pinned, "Dockerfile.user pins no kubectl"
    minor = int(pinned.group(2))
    assert (int(pinned.group(1)), minor) >= (1, 35), "kubectl 1.34 and older are out of support"
    docs = (REPO / "docs" / "kubernetes.md").read_text()
    assert f"`kubectl` **1.{minor}**" in docs and f"`v1.{minor}.{pinned.group(3)}`" in docs
    manifests = [HUB / "volumes.yaml", HUB / "grading-rbac.yaml"]
    for name, pod in pods.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(pod))
        manifests.append(path)
    validate = [sys.executable, "-m", "kubernetes_validate"]  # a test tool (scripts/test-tools)
    done = subprocess.run([*validate, "--strict", "--kubernetes-version", f"1.{minor}.0",
                           *map(str, manifests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
