"""An embedded PostgreSQL server: the one the ``pgserver`` wheel ships, in a data directory.

Every process that uses the directory (``serve``, ``worker``, each CLI command) attaches
to the server, starting it when none runs, and detaches when it is done; the last one
to detach stops it. Who is attached is known from file locks only (each attachment holds
a shared ``flock`` on ``users.lock``), never from a list of process ids, so a process
killed with ``kill -9`` leaves nothing behind: the kernel drops its lock. Starting and
stopping are serialised by an exclusive lock on ``control.lock``.

The server listens on a Unix socket in a directory only its owner can enter, never on
TCP. PostgreSQL refuses to run as root: under root it runs as a system user of its own
(``picpaygo-db``, created when missing), which owns the cluster's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil

from picpaygo_core.errors import StorageUnavailable

logger = logging.getLogger("picpaygo")

SYSTEM_USER = "picpaygo-db"
PORT = 5432
START_TIMEOUT_SECONDS = 60
# Longest Unix socket path the kernel takes (``sun_path``), less room for the file name.
MAX_SOCKET_DIR_CHARS = 107 - len(f"/.s.PGSQL.{PORT}.lock")
# Settings the server starts with (the cluster's files keep PostgreSQL's defaults).
SERVER_OPTIONS = {
    "listen_addresses": "",
    "port": str(PORT),
    # Dynamic shared memory in files inside the cluster, cleaned up at every start.
    "dynamic_shared_memory_type": "mmap",
}


class EmbeddedServerError(StorageUnavailable):
    """The embedded server could not be set up or started; the message says why."""


class EmbeddedPostgres:
    """The PostgreSQL server in ``data_dir``, shared by every process that uses it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.absolute()
        self.cluster_dir = self.data_dir / "postgres"
        self.socket_dir = _socket_dir(self.data_dir)
        self._attachments: list[int] = []

    @property
    def description(self) -> str:
        return f"embedded PostgreSQL in {self.data_dir}"

    @property
    def exists(self) -> bool:
        """Whether ``data_dir`` holds a database (one that finished initialising)."""
        return (self.cluster_dir / "PG_VERSION").exists()

    @property
    def url(self) -> str:
        """The connection URL: the Unix socket, the ``postgres`` role and database."""
        host = urllib.parse.quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/postgres?host={host}&port={PORT}"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The server, started if needed, while the block runs; stopped after if last."""
        await asyncio.to_thread(self.attach)
        try:
            yield
        finally:
            await asyncio.to_thread(self.detach)

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Like ``running``, for synchronous code (a parent of server processes)."""
        self.attach()
        try:
            yield
        finally:
            self.detach()

    def attach(self) -> None:
        """Start the server unless it runs, and count this attachment as a user of it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._control():
            user = os.open(self.data_dir / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(user, fcntl.LOCK_SH)
            try:
                if not self._is_running():
                    self._start()
            except BaseException:
                os.close(user)
                raise
            self._attachments.append(user)

    def detach(self) -> None:
        """Drop this attachment; stop the server when no attachment is left anywhere."""
        if not self._attachments:
            return
        with self._control():
            os.close(self._attachments.pop())
            probe = os.open(self.data_dir / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another attachment still uses the server
            finally:
                os.close(probe)
            if self._is_running():
                self._pg_ctl("stop", "-m", "fast", "-w")

    @contextlib.contextmanager
    def _control(self) -> Iterator[None]:
        control = os.open(self.data_dir / "control.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(control, fcntl.LOCK_EX)
            yield
        finally:
            os.close(control)

    def _is_running(self) -> bool:
        """Whether the cluster's postmaster runs; a stale ``postmaster.pid`` is removed."""
        pid_file = self.cluster_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return False
        try:
            alive = psutil.Process(pid).name() == "postgres"
        except psutil.Error:
            alive = False
        if not alive:
            # Left by a server that was killed (or a machine that stopped): its process is
            # gone, or the number now belongs to another program.
            pid_file.unlink(missing_ok=True)
        return alive

    def _start(self) -> None:
        owner = _server_user()
        initialised = self.exists
        if not initialised:
            # A directory without PG_VERSION is an initialisation that did not finish.
            shutil.rmtree(self.cluster_dir, ignore_errors=True)
        self._prepare_directories(owner)
        if not initialised:
            self._init_cluster()
        options = " ".join(f"-c {name}={shlex.quote(v)}" for name, v in SERVER_OPTIONS.items())
        options += f" -c unix_socket_directories={shlex.quote(str(self.socket_dir))}"
        logger.info("starting %s", self.description)
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-l",
            str(self.cluster_dir / "server.log"),
            "-o",
            options,
        )

    def _init_cluster(self) -> None:
        logger.info("creating %s", self.description)
        self._run(
            "initdb",
            "-D",
            str(self.cluster_dir),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )

    def _prepare_directories(self, owner: pwd.struct_passwd | None) -> None:
        self._own_directory(self.cluster_dir, owner)
        self._own_directory(self.socket_dir, owner)
        if owner is not None:
            # The server's user must reach its directories and its own programs.
            for path in (self.cluster_dir, self.socket_dir, _binaries()):
                _make_reachable(path.parent)

    @staticmethod
    def _own_directory(path: Path, owner: pwd.struct_passwd | None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        info = path.stat()
        if owner is not None and info.st_uid != owner.pw_uid:
            if info.st_uid != 0 and info.st_uid != os.geteuid():
                raise EmbeddedServerError(f"{path} belongs to another user; remove it")
            os.chown(path, owner.pw_uid, owner.pw_gid)
        path.chmod(0o700)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.cluster_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        owner = _server_user()
        try:
            subprocess.run(  # noqa: S603 - the wheel's own programs, arguments as a list
                [str(_binaries() / program), *args],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                user=owner.pw_uid if owner else None,
                group=owner.pw_gid if owner else None,
                extra_groups=[] if owner else None,
                cwd=self.data_dir,
                timeout=START_TIMEOUT_SECONDS + 30,
            )
        except subprocess.CalledProcessError as exc:
            said = exc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EmbeddedServerError(
                f"{program} failed for {self.description}: "
                + (said[-1] if said else f"exit code {exc.returncode}")
                + f" (see {self.cluster_dir / 'server.log'})"
            ) from None
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(f"{program} timed out for {self.description}") from None


def _binaries() -> Path:
    """The PostgreSQL programs of the ``pgserver`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded database needs the pgserver package (pip install pgserver)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: this user, or (under root) ``SYSTEM_USER``, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - the system's useradd
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ],
        check=False,
        capture_output=True,
    )
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise EmbeddedServerError(
            f"PostgreSQL does not run as root, and the system user {SYSTEM_USER} "
            "could not be created"
        ) from None


def _make_reachable(path: Path) -> None:
    """Let other users pass through ``path`` and its parents (search, not listing)."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _socket_dir(data_dir: Path) -> Path:
    """Where the server's socket goes: in ``data_dir`` when the path is short enough,
    else in a directory of the temporary folder named after ``data_dir``."""
    inside = data_dir / "run"
    if len(str(inside)) <= MAX_SOCKET_DIR_CHARS:
        return inside
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"picpaygo-{digest}"
