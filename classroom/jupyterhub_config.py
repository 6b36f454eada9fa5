"""A local JupyterHub for the classroom (`make classroom-demo`, tests/test_classroom_hub.py).

Not for production: every account's password is the same (SharedPasswordAuthenticator), and the
single-user servers run as the hub's own user (SimpleLocalProcessSpawner), each in its own
home folder. A real hub uses its institution's authenticator and one account or container per
learner (docs/teaching.md, "Many learners on one server"). `python -m course_tools.classroom
demo` prepares CLASSROOM_HUB_ROOT (course folder, exchange, the handout repository) first.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

root = Path(os.environ["CLASSROOM_HUB_ROOT"]).resolve()
bin_dir = Path(sys.executable).parent

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("CLASSROOM_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("CLASSROOM_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('CLASSROOM_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(root / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{root / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(root / "jupyterhub_cookie_secret")
c.JupyterHub.log_level = "WARN"

c.JupyterHub.authenticator_class = "shared-password"  # one password for the whole class
c.SharedPasswordAuthenticator.user_password = os.environ.get("CLASSROOM_PASSWORD", "classroom")
c.Authenticator.allowed_users = {"instructor", "alice", "bob"}
# The instructor grades from a terminal (docs/teaching.md); no hub admin is needed here.

c.JupyterHub.spawner_class = "simple"  # SimpleLocalProcessSpawner: one home folder per user
c.SimpleLocalProcessSpawner.home_dir_template = str(root / "home" / "{username}")
c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 180
c.Spawner.args = ["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []
c.Spawner.environment = {
    "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    # nbgrader's student side: the exchange and the course (root/etc/nbgrader_config.py)
    "JUPYTER_CONFIG_PATH": str(root / "etc"),
    "COURSE_FAST": os.environ.get("COURSE_FAST", "0"),
    "COURSE_OFFLINE": os.environ.get("COURSE_OFFLINE", "0"),
    # each learner's share of the CPUs: course_utils.config sets torch's threads from it
    "CPU_LIMIT": os.environ.get("CLASSROOM_CPU_LIMIT", "1"),
}
