"""The JVM options of a local Spark session (``--master local[...]``), whose JVM lives for one audit, so that its
start costs less: C1 alone instead of C1 and C2, and a class-data sharing (CDS) archive of Spark's classes.

Why CDS: a Spark driver loads and verifies ~10,000 classes from ~280 jars at every start. A JDK dynamic archive of
the classes one session loaded (``-XX:ArchiveClassesAtExit``) maps them ready-made into the next ones
(``-XX:SharedArchiveFile``): on 2 cores the session start fell from ~4.6-4.8 s to ~2.8-2.9 s of CPU (the whole
process tree of a local[2] session started and stopped, medians of 3). The archive is a local cache of classes the
machine already has: nothing is downloaded. It lives in ``paths.cache_dir()/spark-cds`` and
``CLEANCLAIM_SPARK_CDS=0`` turns it off (docs/spark.md).

When it is written: the JVM dumps the archive when it exits, which for pyspark's gateway JVM is after the Python
process ended (it exits on its stdin closing), so the audit that creates it does not wait for it; the dump costs
~9 s of CPU (~5-6 s wall idle, 24-26 s at a load of 6-11) once, in the background. The first session also starts
slower while it records.

What may never happen is an audit broken by the cache, hence:

* the key (`archive_key`) names what makes an archive valid: the Java (its home's files and release), Spark's jars
  and the options; another Java on the PATH or another pyspark gets an archive of its own;
* the JVM writes to a unique ``.part`` name and only a complete one is renamed into place (`_adopt`): the JVM writes
  an archive's header last, so a ``.part`` with the archive's magic number is complete; a killed dump has none. The
  size goes into the final name and is checked before each use, since the JVM crashes (SIGBUS) on a truncated
  archive instead of ignoring it; ``-XX:+VerifySharedSpaces`` makes it check the contents' CRCs and ignore a
  damaged archive (without it, a few flipped bytes crashed the JVM);
* an unwritable cache folder, a path the JVM option syntax cannot carry, or no Java: no archive, same audit;
* `spark_session` retries once without the archive (and deletes it) if the JVM does not start with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cleanclaim import paths

__all__ = ["BASE_OPTIONS", "CDS_SWITCH", "JavaOptions", "Submitted", "archive_key", "discard", "local_java_options",
           "submitted"]

BASE_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseParallelGC")
"""For every local session. C1 alone: the optimising (C2) compiler spent more CPU than it saved (session start on 2
cores: ~10.5 s of JVM CPU with C2, ~5.8 s with C1 alone). The throughput collector rather than G1 (the default on
2 cores): a local audit is one batch job with no pause target, and G1's concurrent work cost CPU (1M lines on
local[2], whole tree, medians of 3 alternated: 26.7 s with G1, 25.0 s Parallel, 25.7 s Serial)."""
CDS_SWITCH = "CLEANCLAIM_SPARK_CDS"
"""``0`` (or ``false``, ``no``, ``off``) turns the archive off."""
FOLDER = "spark-cds"
QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")
"""The JVM's CDS warnings (classes it cannot archive, an archive it rejects) would be printed on the audit's
terminal, some of them after the audit ended."""
USE = ("-XX:+VerifySharedSpaces", *QUIET)
DYNAMIC_MAGIC = 0xF00BABA8
"""The first four bytes (little-endian) of a JDK dynamic archive (``CDS_DYNAMIC_ARCHIVE_MAGIC``, JDK 13 to 21)."""
FREE_NEEDED = 400 << 20
"""The free space (bytes) the cache's disk must have for a recording: twice the largest archive seen (~200 MB). A
JVM that cannot write its archive prints an error on the audit's terminal after the audit."""
DUMP_WAIT = 600
"""Seconds after which an empty ``.part`` whose audit has ended is a dump that failed: the JVM dumps within a minute
of the audit's end, and a dump that began has written more than nothing."""
NODUMP_AGE = 86400
"""Seconds during which a key whose dump failed (``KEY.nodump``) is not recorded again."""
PART_AGE = 2 * 86400
"""A ``.part`` older than this (seconds) is a dump that never completed."""
ARCHIVE_AGE = 30 * 86400
"""Another key's archive unused for this long (seconds) belongs to a Java or a pyspark no longer used."""
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+@%=-]+")
"""What a path may hold to go into ``spark.driver.extraJavaOptions`` unquoted (split on spaces, and ``:`` separates
two archives in ``-XX:SharedArchiveFile``)."""


@dataclass(frozen=True)
class JavaOptions:
    """The options of one local session's JVM, with the archive it uses or the ``.part`` it will write at exit."""

    options: tuple[str, ...]
    archive: Path | None = None
    dumping: Path | None = None

    @property
    def text(self) -> str:
        """As ``spark.driver.extraJavaOptions`` wants them."""
        return " ".join(self.options)


@dataclass(frozen=True)
class Submitted:
    """What spark-submit will give the session besides cleanclaim's own settings: from ``PYSPARK_SUBMIT_ARGS`` (which
    pyspark passes after the builder's options, so they win), else the properties file (``--properties-file``, else
    ``spark-defaults.conf`` in ``$SPARK_CONF_DIR``, else in ``$SPARK_HOME/conf``), else ``$MASTER`` for the master."""

    master: str | None = None
    java_options: str | None = None
    """``spark.driver.extraJavaOptions`` (``--driver-java-options``)."""
    class_path: str | None = None
    """``spark.driver.extraClassPath`` (``--driver-class-path``), which goes before Spark's jars."""
    conf_dir: Path | None = None
    """The folder spark-class puts first on the JVM's class path."""

    def local(self, master: str | None) -> bool:
        """Whether a session on ``master`` (None: spark-submit's) is known to run on this machine alone: only then do
        cleanclaim's local-only settings (SPARK_LOCAL_IP, the JVM options, the archive, no web UI) apply."""
        chosen = master or self.master
        return chosen is None or chosen.strip().startswith("local")


_KEYS = {"--master": "spark.master", "--driver-java-options": "spark.driver.extraJavaOptions",
         "--driver-class-path": "spark.driver.extraClassPath", "--properties-file": "--properties-file"}


def submitted(environ: Mapping[str, str] | None = None, *, spark_home: Path | None = None) -> Submitted:
    """The settings spark-submit will see (`Submitted`), read as spark-submit reads them."""
    env = os.environ if environ is None else environ
    given = _submit_args(env.get("PYSPARK_SUBMIT_ARGS", ""))
    home = Path(env["SPARK_HOME"]) if env.get("SPARK_HOME") else spark_home or _spark_home()
    conf_dir = Path(env["SPARK_CONF_DIR"]) if env.get("SPARK_CONF_DIR") else home / "conf" if home else None
    properties = given.pop("--properties-file", None)
    defaults = _properties(Path(properties) if properties else conf_dir / "spark-defaults.conf" if conf_dir
                           else None)
    settings = {**defaults, **given}
    return Submitted(master=settings.get("spark.master") or env.get("MASTER") or None,
                     java_options=settings.get("spark.driver.extraJavaOptions"),
                     class_path=settings.get("spark.driver.extraClassPath"), conf_dir=conf_dir)


def _submit_args(text: str) -> dict[str, str]:
    """The settings ``PYSPARK_SUBMIT_ARGS`` gives (``--master X``, ``--conf k=v``, ``--opt=X``...), the last winning."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    found: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, value = word.partition("=")
        if name in (*_KEYS, "--conf", "-c"):
            if not equals:
                index += 1
                value = words[index] if index < len(words) else ""
            if name in {"--conf", "-c"}:
                conf, _, conf_value = value.partition("=")
                found[conf.strip()] = conf_value
            else:
                found[_KEYS[name]] = value
        index += 1
    return found


def _properties(path: Path | None) -> dict[str, str]:
    """A Spark properties file's settings (``key value`` or ``key=value``, ``#`` comments), as far as they matter
    here (no continuation lines or escapes)."""
    if path is None:
        return {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^\s=:]+)\s*[=:\s]\s*(.*)", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def local_java_options(environ: Mapping[str, str] | None = None, *, spark_home: Path | None = None) -> JavaOptions:
    """The options for a local session's JVM about to be launched, with the archive when there is (or can be) one."""
    env = os.environ if environ is None else environ
    home = spark_home if spark_home is not None else _spark_home()
    given = submitted(env, spark_home=home)
    if given.java_options is not None:
        # the caller's spark.driver.extraJavaOptions: in PYSPARK_SUBMIT_ARGS it replaces whatever the builder sets
        # (pyspark puts it after), so cleanclaim's would be reported by SparkConf and not run; in a properties file,
        # cleanclaim's would replace the caller's. Either way the JVM options stay the caller's, with no archive.
        return JavaOptions(())
    plain = JavaOptions(BASE_OPTIONS)
    if env.get(CDS_SWITCH, "1").strip().lower() in {"0", "false", "no", "off"}:
        return plain
    java = java_executable(env)
    if java is None or home is None:
        return plain
    folder = cache_folder(env)
    if not _PLAIN_PATH.fullmatch(str(folder)) or not paths.cache_dir_may_be_made(env):
        return plain
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = archive_key(java, home, BASE_OPTIONS, env, given.class_path)
        _tidy(folder, key)
        archive = _archive(folder, key) or _adopt(folder, key)
        if archive is not None:
            return JavaOptions((*BASE_OPTIONS, f"-XX:SharedArchiveFile={archive}", *USE, _error_file(folder)),
                               archive=archive)
        if not _recordable(folder, key, given, env):
            return plain
        part = folder / f"{key}.{os.getpid()}-{secrets.token_hex(4)}.part"
        # made here, so that an unwritable folder is known now; the JVM replaces it when it dumps
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError:
        return plain
    return JavaOptions((*BASE_OPTIONS, f"-XX:ArchiveClassesAtExit={part}", *QUIET, _error_file(folder)),
                       dumping=part)


def _error_file(folder: Path) -> str:
    """Where the JVM writes its crash log (``hs_err_pid*.log``): in the cache folder, not the audit's working folder
    (a JVM crashing on a damaged archive is started again without it, and the audit succeeds)."""
    return f"-XX:ErrorFile={folder}/hs_err_pid%p.log"


def _recordable(folder: Path, key: str, given: Submitted, environ: Mapping[str, str]) -> bool:
    """Whether the JVM can write the key's archive at exit. When it cannot, it says so on the audit's terminal after
    the audit ("Error occurred during initialization of VM"), and every later audit would try again: so not when a
    non-empty folder comes before Spark's jars on the class path (JDK 17 refuses to dump then), nor on a disk short
    of space, nor for a while after a dump of the key failed."""
    if _nonempty_folder_first(given, environ):
        return False
    marker = folder / f"{key}.nodump"
    now = time.time()
    for part in folder.glob(f"{key}.*.part"):
        writer = part.name.removeprefix(f"{key}.").split("-")[0]
        with contextlib.suppress(OSError):
            st = part.stat()
            if st.st_size == 0 and now - st.st_mtime > DUMP_WAIT and writer.isdigit() and not _alive(int(writer)):
                marker.touch()  # the audit ended long ago and its JVM wrote nothing: the dump failed
                part.unlink()
    with contextlib.suppress(OSError):
        if now - marker.stat().st_mtime < NODUMP_AGE:
            return False
        marker.unlink()
    try:
        return shutil.disk_usage(folder).free >= FREE_NEEDED
    except OSError:
        return False


def _nonempty_folder_first(given: Submitted, environ: Mapping[str, str]) -> bool:
    """Whether a non-empty folder comes before (or among) the jars the JVM loads classes from: spark-class's class
    path is the driver class path, the conf folder, SPARK_PREPEND_CLASSES's build folders, Spark's jars, then the
    Hadoop and YARN conf folders when SPARK_DIST_CLASSPATH adds jars after them."""
    if environ.get("SPARK_PREPEND_CLASSES"):
        return True
    folders = [*(given.class_path or "").split(os.pathsep), str(given.conf_dir or "")]
    if environ.get("SPARK_DIST_CLASSPATH"):
        folders += [environ.get("HADOOP_CONF_DIR", ""), environ.get("YARN_CONF_DIR", "")]
    for entry in folders:
        try:
            if entry and os.path.isdir(entry) and os.listdir(entry):
                return True
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def cache_folder(environ: Mapping[str, str] | None = None) -> Path:
    return paths.cache_dir(environ) / FOLDER


def discard(options: JavaOptions) -> None:
    """Forget the archive (or the ``.part``) of a session whose JVM did not start with it."""
    for path in (options.archive, options.dumping):
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def java_executable(environ: Mapping[str, str]) -> Path | None:
    """The java that Spark's launcher runs (bin/spark-class: ``$JAVA_HOME/bin/java``, else ``java`` on the PATH)."""
    home = environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java", path=environ.get("PATH"))
    if not found or not os.path.isfile(found):
        return None
    return Path(os.path.realpath(found))


def archive_key(java: Path, spark_home: Path, options: tuple[str, ...], environ: Mapping[str, str],
                class_path: str | None = None) -> str:
    """What an archive is valid for, hashed: the Java (its files and release, which an update in place changes),
    Spark's jars and the driver class path before them (the classpath the archive's classes came from: the JVM
    rejects an archive recorded with another) and the JVM options."""
    java_home = java.parent.parent
    jars = spark_home / "jars"
    described = {
        "java": [str(java), *(_stat(java_home / name) for name in
                             ("bin/java", "lib/modules", "lib/server/libjvm.so", "lib/server/classes.jsa"))],
        "release": _text(java_home / "release"),
        "spark": str(spark_home.resolve()),
        "jars": sorted(_stat(jar) for jar in jars.glob("*.jar")) if jars.is_dir() else [],
        "classpath": [environ.get(name, "") for name in ("SPARK_DIST_CLASSPATH", "SPARK_CONF_DIR",
                                                         "SPARK_PREPEND_CLASSES", "HADOOP_CONF_DIR")]
        + ([class_path] if class_path else []),
        "options": list(options),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


def _spark_home() -> Path | None:
    try:
        from pyspark.find_spark_home import _find_spark_home
    except ImportError:
        return None
    try:
        return Path(_find_spark_home())
    except SystemExit:  # it exits when it finds no Spark
        return None


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path.name}:-"
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _complete(path: Path, size: int | None = None) -> bool:
    """Whether ``path`` is a whole archive: the magic number the JVM writes last, and the size it had then."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
            length = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    return int.from_bytes(head, "little") == DYNAMIC_MAGIC and (size is None or length == size)


def _archive(folder: Path, key: str) -> Path | None:
    """The key's archive (``KEY-SIZE.jsa``) when it is whole; a damaged one is deleted (a new one will be made). Of
    two whole ones (two audits that recorded at once, adopted at once) the first by name is kept, the same for every
    audit, and the other deleted: 150-200 MB each."""
    found = None
    for path in sorted(folder.glob(f"{key}-*.jsa")):
        size = path.name.removeprefix(f"{key}-").removesuffix(".jsa")
        if found is None and size.isdigit() and _complete(path, int(size)):
            found = path
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > 86400:
                    os.utime(path)  # in use: not another key's stale archive for `_tidy` (another user's: all the same)
            continue
        with contextlib.suppress(OSError):
            path.unlink()
    return found


def _adopt(folder: Path, key: str) -> Path | None:
    """A complete ``.part`` of the key, renamed to its archive name (another audit may do it first); the key's other
    complete ``.part`` files (audits that recorded at the same time) are deleted, as one archive is enough."""
    found = False
    for part in sorted(folder.glob(f"{key}.*.part")):
        if not _complete(part):
            continue
        with contextlib.suppress(OSError):  # gone: another audit adopted it first
            if found:
                part.unlink()
            else:
                os.replace(part, folder / f"{key}-{part.stat().st_size}.jsa")
        found = True
    return _archive(folder, key) if found else None


def _tidy(folder: Path, key: str) -> None:
    """Delete dumps that never completed, other keys' archives long unused, and failed-dump markers past their
    time (`_recordable` removes its own key's; a key never used again would keep its empty marker forever)."""
    now = time.time()
    for path in folder.iterdir():
        try:
            age = now - path.stat().st_mtime
            stale = ((path.suffix == ".part" and age > PART_AGE)
                     or (path.suffix == ".jsa" and not path.name.startswith(key) and age > ARCHIVE_AGE)
                     or (path.suffix == ".nodump" and age > NODUMP_AGE))
            if stale:
                path.unlink()
        except OSError:
            continue
