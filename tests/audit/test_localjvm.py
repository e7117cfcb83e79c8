"""`localjvm`: the JVM options of a local Spark session, and the class-data sharing archive cache behind them.

All but the last test run without a JVM: a fake Java home and Spark home in a temporary folder stand for the
machine's, and `spark_session`'s launch is replaced by a recorder. The last one (``spark``) starts one local session in
a child process (a fresh JVM: pyspark launches one per process) with a garbage archive in place, and reads the JVM's
own arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import cleanclaim
from cleanclaim.audit import localjvm
from cleanclaim.audit.localjvm import BASE_OPTIONS, DYNAMIC_MAGIC, JavaOptions, archive_key, local_java_options

MAGIC = DYNAMIC_MAGIC.to_bytes(4, "little")


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Any]:
    """A Java home, a Spark home with two jars and an environment naming them and a cache folder."""
    java_home, spark_home = tmp_path / "jdk", tmp_path / "spark"
    (java_home / "bin").mkdir(parents=True)
    (java_home / "lib" / "server").mkdir(parents=True)
    (java_home / "bin" / "java").write_text("#!/bin/sh\n")
    (java_home / "lib" / "modules").write_bytes(b"modules")
    (java_home / "release").write_text('JAVA_VERSION="17.0.15"\n')
    (spark_home / "jars").mkdir(parents=True)
    for name in ("spark-core.jar", "slf4j-api.jar"):
        (spark_home / "jars" / name).write_bytes(name.encode())
    env = {"JAVA_HOME": str(java_home), "CLEANCLAIM_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}
    return {"java": java_home / "bin" / "java", "spark": spark_home, "env": env,
            "folder": tmp_path / "cache" / localjvm.FOLDER}


def options(machine: dict[str, Any], **env: str) -> JavaOptions:
    return local_java_options({**machine["env"], **env}, spark_home=machine["spark"])


def key(machine: dict[str, Any]) -> str:
    return archive_key(localjvm.java_executable(machine["env"]) or Path(), machine["spark"], BASE_OPTIONS,
                       machine["env"])


def archive(machine: dict[str, Any], body: bytes = b"\0" * 100, *, size: int | None = None) -> Path:
    """A complete archive in place (the magic number, and the size in its name)."""
    content = MAGIC + body
    path = machine["folder"] / f"{key(machine)}-{len(content) if size is None else size}.jsa"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_the_key_changes_with_the_java_the_jars_and_the_options(machine: dict[str, Any]) -> None:
    java, spark, env = localjvm.java_executable(machine["env"]), machine["spark"], machine["env"]
    assert java is not None
    first = archive_key(java, spark, BASE_OPTIONS, env)
    assert archive_key(java, spark, BASE_OPTIONS, env) == first  # the same machine: the same archive
    assert archive_key(java, spark, (*BASE_OPTIONS, "-XX:+UseSerialGC"), env) != first
    assert archive_key(java, spark, BASE_OPTIONS, {**env, "SPARK_DIST_CLASSPATH": "/opt/x.jar"}) != first
    (java.parent.parent / "release").write_text('JAVA_VERSION="17.0.16"\n')  # a Java updated in place
    updated = archive_key(java, spark, BASE_OPTIONS, env)
    assert updated != first
    (spark / "jars" / "spark-core.jar").write_bytes(b"spark-core 4.3.1")  # another pyspark's jar
    assert archive_key(java, spark, BASE_OPTIONS, env) != updated


def test_with_no_archive_the_jvm_writes_one_at_exit_under_a_unique_name(machine: dict[str, Any]) -> None:
    first, second = options(machine), options(machine)
    for chosen in (first, second):
        assert chosen.options[: len(BASE_OPTIONS)] == BASE_OPTIONS
        assert chosen.archive is None and chosen.dumping is not None
        assert f"-XX:ArchiveClassesAtExit={chosen.dumping}" in chosen.options
        assert "-Xlog:cds=off" in chosen.options  # the JVM's CDS warnings stay off the audit's terminal
        assert f"-XX:ErrorFile={machine['folder']}/hs_err_pid%p.log" in chosen.options
        assert chosen.dumping.parent == machine["folder"] and chosen.dumping.exists()  # made: the folder is writable
    assert first.dumping != second.dumping  # two audits at once never write the same file


def test_a_whole_archive_is_used_and_checked(machine: dict[str, Any]) -> None:
    path = archive(machine)
    chosen = options(machine)
    assert chosen.archive == path and chosen.dumping is None
    assert chosen.options == (*BASE_OPTIONS, f"-XX:SharedArchiveFile={path}", "-XX:+VerifySharedSpaces",
                              "-Xlog:cds=off", "-Xlog:cds+dynamic=off",
                              f"-XX:ErrorFile={machine['folder']}/hs_err_pid%p.log")  # not the audit's folder


def test_a_completed_dump_is_renamed_into_place_and_an_unfinished_one_is_not(machine: dict[str, Any]) -> None:
    folder = machine["folder"]
    folder.mkdir(parents=True)
    unfinished = folder / f"{key(machine)}.11-aa.part"
    unfinished.write_bytes(b"\0" * 104)  # a dump in progress or killed: the header (written last) is not there
    assert options(machine).archive is None
    done = folder / f"{key(machine)}.12-bb.part"
    done.write_bytes(MAGIC + b"\0" * 100)
    chosen = options(machine)
    assert chosen.archive == folder / f"{key(machine)}-104.jsa" and chosen.archive.exists()
    assert not done.exists() and unfinished.exists()


def test_a_truncated_or_foreign_archive_is_deleted_and_made_again(machine: dict[str, Any]) -> None:
    truncated = archive(machine, size=4096)  # the JVM crashes (SIGBUS) on an archive shorter than it was written
    chosen = options(machine)
    assert chosen.archive is None and chosen.dumping is not None and not truncated.exists()
    foreign = archive(machine)
    foreign.write_bytes(b"\xca\xfe\xba\xbe" + b"\0" * 100)  # same size, not a dynamic archive
    assert options(machine).archive is None and not foreign.exists()


def test_another_key_s_old_archive_and_stale_dumps_are_deleted(machine: dict[str, Any]) -> None:
    folder = machine["folder"]
    folder.mkdir(parents=True)
    old, recent = folder / "0000-104.jsa", folder / "1111-104.jsa"
    stale_part, live_part = folder / "2222.1-aa.part", folder / "3333.1-aa.part"
    old_marker, recent_marker = folder / "4444.nodump", folder / "5555.nodump"
    for path in (old, recent, stale_part, live_part):
        path.write_bytes(MAGIC)
    old_marker.touch()
    recent_marker.touch()
    long_ago = time.time() - localjvm.ARCHIVE_AGE - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(stale_part, (long_ago, long_ago))
    os.utime(old_marker, (long_ago, long_ago))
    options(machine)
    assert not old.exists() and not stale_part.exists() and not old_marker.exists()
    assert recent.exists() and live_part.exists()  # another Java's archive in use; another audit's dump
    assert recent_marker.exists()  # a failed dump of another key, still in its time


@pytest.mark.parametrize("case", ["turned off", "unwritable", "no java", "a space in the path"])
def test_no_archive_when_it_cannot_or_must_not_be_used(machine: dict[str, Any], tmp_path: Path, case: str) -> None:
    env: dict[str, str] = {}
    if case == "turned off":
        archive(machine)
        env = {localjvm.CDS_SWITCH: "0"}
    elif case == "unwritable":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        env = {"CLEANCLAIM_CACHE_DIR": str(blocker / "cache")}  # no folder can be made under a file
    elif case == "no java":
        env = {"JAVA_HOME": str(tmp_path / "no-such-jdk")}
    else:
        env = {"CLEANCLAIM_CACHE_DIR": str(tmp_path / "my cache")}  # the options string is split on spaces
    assert options(machine, **env) == JavaOptions(BASE_OPTIONS)


def test_the_cache_follows_xdg_cache_home(machine: dict[str, Any], tmp_path: Path) -> None:
    env = {key: value for key, value in machine["env"].items() if key != "CLEANCLAIM_CACHE_DIR"}
    chosen = local_java_options({**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}, spark_home=machine["spark"])
    assert chosen.dumping is not None and chosen.dumping.parent == tmp_path / "xdg" / "cleanclaim" / "spark-cds"


class Launches:
    """`spark.spark_session`'s launches, recorded instead of started: the options each got and SPARK_LOCAL_IP then."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[JavaOptions | None, str | None]] = []
        self.fail_first = fail_first

    def __call__(self, builder: Any, java: JavaOptions | None) -> Any:
        self.calls.append((java, os.environ.get("SPARK_LOCAL_IP")))
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("Java gateway process exited before sending its port number")
        return "session"


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch, machine: dict[str, Any]) -> Launches:
    pytest.importorskip("pyspark", reason="the dev extra installs pyspark")
    from pyspark import SparkContext

    from cleanclaim.audit import spark

    monkeypatch.setattr(SparkContext, "_gateway", None)  # as in a process that has not launched a JVM yet
    monkeypatch.setattr(SparkContext, "_jvm", SparkContext._jvm)  # put back: a test's session may use it
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    for name in ("SPARK_LOCAL_IP", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME", "MASTER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in machine["env"].items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(localjvm, "_spark_home", lambda: machine["spark"])
    recorder = Launches()
    monkeypatch.setattr(spark, "_started", recorder)
    return recorder


def test_a_local_session_gets_the_options_and_a_cluster_s_are_the_user_s(launches: Launches) -> None:
    from cleanclaim.audit.spark import spark_session

    spark_session("local[2]")
    spark_session("spark://cluster:7077")
    (local, local_ip), (cluster, cluster_ip) = launches.calls
    assert local is not None and local.dumping is not None and set(BASE_OPTIONS) <= set(local.options)
    assert local_ip == "127.0.0.1" and "SPARK_LOCAL_IP" not in os.environ  # for the launch only
    assert cluster is None and cluster_ip is None


@pytest.mark.parametrize("where", ["spark-defaults.conf", "PYSPARK_SUBMIT_ARGS --master", "PYSPARK_SUBMIT_ARGS --conf"])
def test_with_no_master_given_a_cluster_master_named_elsewhere_gets_no_local_settings(
        launches: Launches, machine: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        where: str) -> None:
    """spark-submit's master comes from PYSPARK_SUBMIT_ARGS or spark-defaults.conf: a driver on a cluster must not
    bind to loopback nor advertise localhost, nor get the local JVM options or record an archive."""
    from cleanclaim.audit import spark

    if where == "spark-defaults.conf":
        conf = tmp_path / "conf"
        conf.mkdir()
        (conf / "spark-defaults.conf").write_text("# a cluster\nspark.master   spark://192.0.2.2:17077\n")
        monkeypatch.setenv("SPARK_CONF_DIR", str(conf))
    elif where == "PYSPARK_SUBMIT_ARGS --master":
        monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master spark://10.0.0.5:7077 pyspark-shell")
    else:
        monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.master=yarn pyspark-shell")
    assert spark._launch_environ(None) == [] and "SPARK_LOCAL_IP" not in os.environ
    spark.spark_session()
    assert launches.calls == [(None, None)]
    assert not machine["folder"].exists() or not list(machine["folder"].iterdir())  # nothing recorded


def test_with_no_master_anywhere_or_a_local_one_named_elsewhere_the_session_is_local(
        launches: Launches, monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.audit import spark

    spark.spark_session()
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master=local[2] --name x pyspark-shell")
    spark.spark_session()
    assert [(java is not None, ip) for java, ip in launches.calls] == [(True, "127.0.0.1")] * 2


def test_the_settings_spark_submit_sees_are_read_as_it_reads_them(tmp_path: Path) -> None:
    home = tmp_path / "spark"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "spark-defaults.conf").write_text(
        "spark.master=spark://a:7077\nspark.driver.extraJavaOptions -Dx=1 -Dy=2\n")
    other = tmp_path / "other.conf"
    other.write_text("spark.driver.extraClassPath: /opt/classes\n")
    env = {"SPARK_HOME": str(home)}
    assert localjvm.submitted(env) == localjvm.Submitted("spark://a:7077", "-Dx=1 -Dy=2", None, home / "conf")
    env["PYSPARK_SUBMIT_ARGS"] = ("--master local[1] --driver-java-options '-Da=1 -Db=2' --properties-file "
                                  f"{other} pyspark-shell")
    assert localjvm.submitted(env) == localjvm.Submitted("local[1]", "-Da=1 -Db=2", "/opt/classes", home / "conf")
    assert localjvm.submitted({"MASTER": "yarn", "SPARK_CONF_DIR": str(tmp_path)}).master == "yarn"
    assert localjvm.Submitted().local(None) and localjvm.Submitted("spark://a:7077").local("local[2]")
    assert not localjvm.Submitted("yarn").local(None) and not localjvm.Submitted().local("k8s://h")


def test_a_jvm_that_does_not_start_with_the_archive_is_started_without_it(launches: Launches,
                                                                         machine: dict[str, Any]) -> None:
    from cleanclaim.audit.spark import spark_session

    path = archive(machine)
    launches.fail_first = True
    assert spark_session("local[2]") == "session"
    (first, _), (second, _) = launches.calls
    assert first is not None and first.archive == path
    assert second == JavaOptions(BASE_OPTIONS) and not path.exists()  # not tried again by the next audit


def test_a_jvm_that_died_with_the_archive_is_not_pyspark_s_gateway_for_the_retry(
        launches: Launches, machine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark import SparkContext

    from cleanclaim.audit import spark

    class Exited:
        def poll(self) -> int:
            return 134  # the JVM died (SIGABRT) after pyspark had connected to it

    class Gateway:
        proc = Exited()

    gateways: list[Any] = []

    def launch(builder: Any, java: JavaOptions | None) -> Any:
        gateways.append(SparkContext._gateway)
        if len(gateways) == 1:
            SparkContext._gateway = Gateway()
            raise RuntimeError("Connection refused")
        return "session"

    archive(machine)
    monkeypatch.setattr(spark, "_started", launch)
    assert spark.spark_session("local[2]") == "session"
    assert gateways == [None, None]  # the retry launches a JVM of its own


@pytest.mark.spark
def test_a_local_session_s_jvm_runs_with_the_options_and_survives_a_damaged_archive(tmp_path: Path) -> None:
    """One JVM with cleanclaim's options and a garbage archive in place (whole by its magic and size, random
    inside), which the JVM must ignore while the session starts and runs a job. The JVM rejects this one by its
    header; a damaged region of a real archive, which -XX:+VerifySharedSpaces catches, would need a recording
    (20-30 s) first and is not tested here."""
    pytest.importorskip("pyspark", reason="the dev extra installs pyspark")
    env = {**os.environ, "CLEANCLAIM_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(cleanclaim.__file__).parents[1])}
    env.pop("SPARK_LOCAL_IP", None)
    chosen = local_java_options(env)
    assert chosen.dumping is not None
    chosen.dumping.unlink()
    damaged = chosen.dumping.parent / f"{chosen.dumping.name.split('.')[0]}-{1 << 20}.jsa"
    damaged.write_bytes(MAGIC + os.urandom((1 << 20) - 4))
    script = textwrap.dedent("""
        import json
        from cleanclaim.audit.spark import spark_session
        session = spark_session("local[1]")
        jvm = session.sparkContext._jvm
        arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
        total = session.range(100).selectExpr("sum(id)").collect()[0][0]
        print(json.dumps({"arguments": arguments, "total": total, "host": session.conf.get("spark.driver.host")}))
        session.stop()
    """)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["total"] == 4950
    assert set(BASE_OPTIONS) <= set(seen["arguments"])  # C1 alone, the throughput collector
    assert f"-XX:SharedArchiveFile={damaged}" in seen["arguments"]
    assert "-XX:+VerifySharedSpaces" in seen["arguments"]
    assert f"-XX:ErrorFile={damaged.parent}/hs_err_pid%p.log" in seen["arguments"]
    assert seen["host"] in {"127.0.0.1", "localhost"}  # SPARK_LOCAL_IP: the loopback, not the machine's address
    assert "resolves to a loopback address" not in run.stderr


@pytest.mark.parametrize("where", ["SPARK_CONF_DIR", "SPARK_HOME/conf", "--driver-class-path"])
def test_no_recording_when_a_non_empty_folder_comes_before_the_jars(machine: dict[str, Any], tmp_path: Path,
                                                                      where: str) -> None:
    """JDK 17 refuses to dump an archive then ("Cannot have non-empty directory in paths", printed after the
    audit): nothing is recorded, and an empty folder changes nothing."""
    folder = machine["spark"] / "conf" if where == "SPARK_HOME/conf" else tmp_path / "extra"
    folder.mkdir()
    env = {"SPARK_CONF_DIR": str(folder)} if where == "SPARK_CONF_DIR" else {
        "PYSPARK_SUBMIT_ARGS": f"--driver-class-path {folder} pyspark-shell"} if where == "--driver-class-path" else {}
    assert options(machine, **env).dumping is not None  # empty: recorded
    for part in machine["folder"].glob("*.part"):
        part.unlink()
    (folder / "log4j2.properties").write_text("")
    assert options(machine, **env) == JavaOptions(BASE_OPTIONS)
    assert not list(machine["folder"].glob("*.part"))


def test_a_failed_dump_stops_the_key_s_recording_for_a_while(machine: dict[str, Any]) -> None:
    """A ``.part`` still empty long after its audit ended: the JVM could not write it. The key is not recorded
    again for NODUMP_AGE, then it is."""
    folder = machine["folder"]
    folder.mkdir(parents=True)
    failed = folder / f"{key(machine)}.4194305-aa.part"  # above Linux's largest pid: an audit long gone
    failed.write_bytes(b"")
    long_ago = time.time() - localjvm.DUMP_WAIT - 60
    os.utime(failed, (long_ago, long_ago))
    ongoing = folder / f"{key(machine)}.{os.getpid()}-bb.part"  # an audit still running: its JVM dumps later
    ongoing.write_bytes(b"")
    os.utime(ongoing, (long_ago, long_ago))
    assert options(machine) == JavaOptions(BASE_OPTIONS)
    marker = folder / f"{key(machine)}.nodump"
    assert marker.exists() and not failed.exists() and ongoing.exists()
    assert options(machine) == JavaOptions(BASE_OPTIONS)  # still not
    old = time.time() - localjvm.NODUMP_AGE - 60
    os.utime(marker, (old, old))
    assert options(machine).dumping is not None and not marker.exists()


def test_no_recording_on_a_disk_short_of_space(machine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=localjvm.FREE_NEEDED - 1))
    assert options(machine) == JavaOptions(BASE_OPTIONS)
    assert not list(machine["folder"].glob("*.part"))  # not even the placeholder
    path = archive(machine)
    assert options(machine).archive == path  # an archive made already is still used


@pytest.mark.parametrize("where", ["PYSPARK_SUBMIT_ARGS --conf", "PYSPARK_SUBMIT_ARGS --driver-java-options",
                                   "spark-defaults.conf"])
def test_the_caller_s_driver_java_options_are_left_alone(machine: dict[str, Any], tmp_path: Path,
                                                          where: str) -> None:
    """Given in PYSPARK_SUBMIT_ARGS they replace any the builder sets (SparkConf would report cleanclaim's while the
    JVM ran the caller's, leaving an empty .part each audit); in spark-defaults.conf cleanclaim's would replace
    them. cleanclaim sets none, and records nothing."""
    if where == "spark-defaults.conf":
        conf = tmp_path / "conf"
        conf.mkdir()
        (conf / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions -Xss4m\n")
        env = {"SPARK_CONF_DIR": str(conf)}
    elif where.endswith("--conf"):
        env = {"PYSPARK_SUBMIT_ARGS": "--conf 'spark.driver.extraJavaOptions=-Xss4m -Dx=1' pyspark-shell"}
    else:
        env = {"PYSPARK_SUBMIT_ARGS": "--driver-java-options -Xss4m pyspark-shell"}
    assert options(machine, **env) == JavaOptions(())
    assert not machine["folder"].exists() or not list(machine["folder"].iterdir())


def test_a_session_sets_no_driver_java_options_when_the_caller_has() -> None:
    pytest.importorskip("pyspark", reason="the dev extra installs pyspark")
    from cleanclaim.audit import spark

    class Builder:
        def __init__(self) -> None:
            self.conf: dict[str, str] = {}

        def config(self, name: str, value: str) -> Builder:
            self.conf[name] = value
            return self

        def getOrCreate(self) -> dict[str, str]:  # noqa: N802
            return self.conf

    assert spark._started(Builder(), JavaOptions(())) == {}
    assert spark._started(Builder(), JavaOptions(BASE_OPTIONS)) == {
        "spark.driver.extraJavaOptions": " ".join(BASE_OPTIONS)}


def test_of_two_dumps_recorded_at_once_one_archive_is_kept(machine: dict[str, Any]) -> None:
    """Two first audits at once both record; two audits adopting at once may each rename one. One archive is kept
    (the same one by every audit), the other copies (150-200 MB each) deleted."""
    folder = machine["folder"]
    folder.mkdir(parents=True)
    parts = [folder / f"{key(machine)}.{n}-aa.part" for n in (11, 12)]
    for index, part in enumerate(parts):
        part.write_bytes(MAGIC + b"\0" * (100 + index))
    chosen = options(machine)
    assert chosen.archive is not None and sorted(folder.iterdir()) == [chosen.archive]
    other = archive(machine, b"\0" * 200)  # another audit's adoption at the same time
    assert sorted(folder.iterdir()) == sorted([chosen.archive, other])
    kept = options(machine).archive
    assert kept is not None and sorted(folder.iterdir()) == [kept] and kept == options(machine).archive


def test_a_home_folder_that_does_not_exist_is_not_made(machine: dict[str, Any], tmp_path: Path) -> None:
    env = {name: value for name, value in machine["env"].items() if name != "CLEANCLAIM_CACHE_DIR"}
    missing = tmp_path / "home" / "svc"
    chosen = local_java_options({**env, "HOME": str(missing)}, spark_home=machine["spark"])
    assert chosen == JavaOptions(BASE_OPTIONS) and not missing.exists() and not (tmp_path / "home").exists()
    missing.mkdir(parents=True)  # an existing home gets its .cache/cleanclaim
    chosen = local_java_options({**env, "HOME": str(missing)}, spark_home=machine["spark"])
    assert chosen.dumping is not None and chosen.dumping.parent == missing / ".cache" / "cleanclaim" / "spark-cds"


@pytest.fixture(scope="module")
def module_environ() -> dict[str, str | None]:
    """What a module-scoped fixture (a test module's Spark session) sees of the folders conftest isolates."""
    return {name: os.environ.get(name) for name in ("CLEANCLAIM_DATA_DIR", "CLEANCLAIM_CACHE_DIR")}


def test_module_fixtures_see_the_test_folders_not_the_developer_s(module_environ: dict[str, str | None],
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp()
    for name, value in module_environ.items():
        assert value is not None and Path(value).is_relative_to(base), name


def test_another_driver_class_path_gets_an_archive_of_its_own(machine: dict[str, Any], tmp_path: Path) -> None:
    """The JVM rejects an archive recorded with another class path before Spark's jars (and it would be kept and
    never recorded again): the driver class path is in the key."""
    path = archive(machine)
    extra = tmp_path / "extra.jar"
    extra.write_bytes(b"jar")
    assert options(machine).archive == path
    chosen = options(machine, PYSPARK_SUBMIT_ARGS=f"--driver-class-path {extra} pyspark-shell")
    assert chosen.archive is None and chosen.dumping is not None and path.exists()
